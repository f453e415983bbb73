// Integration tests run against a real local cloud of their own (see
// test-cloud-env.ts), never the user's. The first test file that needs it
// starts it (if it is not up yet); later files reuse it. A test may stop one
// agent ("S3 is down", "SMTP is down") and bring it back.
import type { Agent } from '../../infra/cloud/agent.ts'
import { loadConfig, type CloudConfig } from '../../infra/cloud/config.ts'
import { cloudEnv, loadOrCreateCredentials } from '../../infra/cloud/credentials.ts'
import { readIssuedTokens } from '../../infra/cloud/issued-tokens.ts'
import { retireJobsOutsideNamespace } from '../../infra/cloud/agents/nomad.ts'
import { agents } from '../../infra/cloud/agents/all.ts'
import { runningPid } from '../../infra/cloud/processes.ts'
import { agentFiles, agentStatus, stopAgent as stopCloudAgent, up } from '../../infra/cloud/up.ts'
import { trustCaCertsFromEnv } from '../../controller/ca-trust.ts'
import { applyTestCloudEnv, TEST_CLOUD_ENV } from './test-cloud-env.ts'

// Before anything reads the configuration: this process talks to the tests' cloud.
applyTestCloudEnv()

export interface Cloud {
  readonly config: CloudConfig
  readonly env: Readonly<Record<string, string>>
}

let pending: Promise<Cloud> | undefined

const progress = (m: string) => process.stderr.write(`[test cloud] ${m}\n`)

async function start(): Promise<Cloud> {
  const config = loadConfig()
  const credentials = await loadOrCreateCredentials(config)
  const statuses = await Promise.all(agents.map((a) => agentStatus(config, a, credentials)))
  // An agent still running with an outdated config counts as not up: `up` restarts it.
  const stale = await Promise.all(agents.map((a) => a.restartReason?.({ config, credentials, progress })))
  if (statuses.some((s) => !s.healthy) || stale.some(Boolean)) {
    await up(config, progress)
  }
  const controllerKeys = ['LEAN_APPS_PREFIX', 'LEAN_STATUS_PREFIX', 'LEAN_LEADER_KEY'] as const
  const env = { ...cloudEnv(config, credentials, await readIssuedTokens(config)), ...Object.fromEntries(controllerKeys.map((k) => [k, process.env[k] ?? TEST_CLOUD_ENV[k]!])) }
  // With ACLs on, this process (its helpers, and the leanctl and controllers it spawns) must reach Consul and Nomad with the cloud's tokens.
  for (const key of ['CONSUL_HTTP_TOKEN', 'NOMAD_TOKEN', 'NOMAD_NAMESPACE', 'CONSUL_CACERT', 'NOMAD_CACERT'] as const) if (env[key]) process.env[key] = env[key]
  // Consul and Nomad serve HTTPS with the cloud's CA: this process's fetch and Consul clients trust it.
  trustCaCertsFromEnv(env)
  // Controllers of an earlier run, before managed jobs had a namespace, left theirs in `default`.
  const retired = await retireJobsOutsideNamespace(config, credentials)
  if (retired.length > 0) progress(`stopped ${retired.length} managed jobs outside namespace ${config.controller.namespace}`)
  return { config, env }
}

/** The running cloud; started on first use in this process. */
export function useCloud(): Promise<Cloud> {
  pending ??= start()
  return pending
}

export type AgentName = Agent['name']

function agentNamed(name: AgentName): Agent {
  const agent = agents.find((a) => a.name === name)
  if (!agent) throw new Error(`no cloud agent is named '${name}' (agents: ${agents.map((a) => a.name).join(', ')})`)
  return agent
}

/**
 * Stops one agent of the shared cloud the way `cloud:down` does; it stays down
 * until restartAgent (or the next useCloud, which starts whatever is down).
 */
export async function stopAgent(name: AgentName): Promise<void> {
  const { config } = await useCloud()
  // The cached cloud no longer holds: the next useCloud checks the agents again.
  pending = undefined
  await stopCloudAgent(config, agentNamed(name), progress)
}

/** Stops the agent if it still runs, then starts it through `cloud:up` and waits until it is healthy. */
export async function restartAgent(name: AgentName): Promise<void> {
  const agent = agentNamed(name)
  const config = loadConfig()
  pending = undefined
  if ((await runningPid(agentFiles(config, agent).pidFile)) !== undefined) await stopCloudAgent(config, agent, progress)
  const result = await up(config, progress)
  if (!result.started.includes(agent.name)) throw new Error(`cloud:up did not start ${name} again`)
}

/** Runs fn while the agent is stopped, and brings the agent back afterwards even when fn fails. */
export async function withAgentStopped<T>(name: AgentName, fn: () => Promise<T>): Promise<T> {
  await stopAgent(name)
  try {
    return await fn()
  } finally {
    await restartAgent(name)
  }
}
