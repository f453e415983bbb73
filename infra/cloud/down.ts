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
  const strays = [...new Set([...(await processesUnder(config.dataDir)), ...(await processesUnder(config.postgresDataDir))])]
  await Promise.all(strays.map((pid) => stopProcess(pid, 'SIGTERM', 5000)))
  if (strays.length > 0) progress(`stopped ${strays.length} leftover process(es): ${strays.join(', ')}`)
  // Nomad leaves the tmpfs it mounted on each task's secrets/ and private/;
  // with the tasks gone they only stop the data dir from being deleted. A
  // task Nomad restarts later gets its mounts again.
  const nomadData = layout(config).nomadData
  const mounts = await mountsUnder(nomadData)
  if (mounts.length > 0) {
    await unmountUnder(nomadData)
    progress(`unmounted ${mounts.length} task secrets/private dir(s) Nomad left`)
  }
}
