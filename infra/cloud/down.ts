// `cloud:down`: stop every agent this data dir started, then anything they
// left behind (task processes, plugins), so no process outlives the cloud.
import type { CloudConfig } from './config.ts'
import { agents } from './agents/all.ts'
import { processesUnder, stopProcess } from './processes.ts'
import { stopAgent } from './up.ts'
import { stopController } from '../demo/controller-daemon.ts'

export async function down(config: CloudConfig, progress: (m: string) => void): Promise<void> {
  // The demo's controller first: it still talks to Consul and Nomad as it stops.
  await stopController(config, progress)
  // Reverse start order: Nomad stops before the Consul it deregisters from.
  for (const agent of [...agents].reverse()) await stopAgent(config, agent, progress)
  const strays = [...new Set([...(await processesUnder(config.dataDir)), ...(await processesUnder(config.postgresDataDir))])]
  await Promise.all(strays.map((pid) => stopProcess(pid, 'SIGTERM', 5000)))
  if (strays.length > 0) progress(`stopped ${strays.length} leftover process(es): ${strays.join(', ')}`)
}
