// `cloud:down`: stop every agent this data dir started, then anything they
// left behind (task processes, plugins), so no process outlives the cloud.
import { layout, type CloudConfig } from './config.ts'
import { mountsUnder, unmountUnder } from './agents/nomad.ts'
import { agents } from './agents/all.ts'
import { processesUnder, stopProcess } from './processes.ts'
import { stopAgent } from './up.ts'
import { stopController } from './controller-daemon.ts'

export async function down(config: CloudConfig, progress: (m: string) => void): Promise<void> {
  // The demo's controller first: it still talks to Consul and Nomad as it stops.
  await stopController(config, progress)
  // Reverse start order: Nomad stops before the Consul it deregisters from.
  for (const agent of [...agents].reverse()) await stopAgent(config, agent, progress)
  await sweepLeftovers(config, [config], progress)
}

/**
 * What agents leave behind once stopped: processes still running from the
 * cloud's dirs (task processes, plugins), then the tmpfs Nomad mounted on each
 * task's secrets/ and private/ in every given Nomad's data dir. With the tasks
 * gone the mounts only stop the data dir from being deleted; a task Nomad
 * restarts later gets its mounts again.
 */
export async function sweepLeftovers(cloud: CloudConfig, nomads: readonly CloudConfig[], progress: (m: string) => void): Promise<void> {
  const strays = [...new Set([...(await processesUnder(cloud.dataDir)), ...(await processesUnder(cloud.postgresDataDir))])]
  await Promise.all(strays.map((pid) => stopProcess(pid, 'SIGTERM', 5000)))
  if (strays.length > 0) progress(`stopped ${strays.length} leftover process(es): ${strays.join(', ')}`)
  for (const nomad of nomads) {
    const nomadData = layout(nomad).nomadData
    const mounts = await mountsUnder(nomadData)
    if (mounts.length > 0) {
      await unmountUnder(nomadData)
      progress(`${nomad.node ? `${nomad.node.name}: ` : ''}unmounted ${mounts.length} task secrets/private dir(s) Nomad left`)
    }
  }
}
