// Integration tests run against the real local cloud. The first test file that
// needs it starts it (if it is not up yet); later files reuse it.
import { loadConfig, type CloudConfig } from '../../infra/cloud/config.ts'
import { cloudEnv, loadOrCreateCredentials } from '../../infra/cloud/credentials.ts'
import { agents } from '../../infra/cloud/agents/all.ts'
import { agentStatus, up } from '../../infra/cloud/up.ts'

export interface Cloud {
  readonly config: CloudConfig
  readonly env: Readonly<Record<string, string>>
}

let pending: Promise<Cloud> | undefined

async function start(): Promise<Cloud> {
  const config = loadConfig()
  const credentials = await loadOrCreateCredentials(config)
  const statuses = await Promise.all(agents.map((a) => agentStatus(config, a, credentials)))
  if (statuses.some((s) => !s.healthy)) {
    await up(config, (m) => process.stderr.write(`[test cloud] ${m}\n`))
  }
  const env = cloudEnv(config, credentials)
  return { config, env }
}

/** The running cloud; started on first use in this process. */
export function useCloud(): Promise<Cloud> {
  pending ??= start()
  return pending
}
