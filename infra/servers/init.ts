// `cluster:init`, once for the cluster, on the services server once every
// server's agents run: what `cloud:up` does for a cluster after its agents
// are healthy (infra/cloud/cluster.ts), through the same agents' code:
// Consul's and Nomad's resources through the first server, the others on the
// services server, until S3 stores an object on the volume servers; then the
// controller's Nomad token for every server.
import { consulAgent } from '../cloud/agents/consul.ts'
import { nomadAgent } from '../cloud/agents/nomad.ts'
import { postgresAgent } from '../cloud/agents/postgres.ts'
import { s3Agent } from '../cloud/agents/s3.ts'
import type { Agent, AgentContext } from '../cloud/agent.ts'
import { layout, type CloudConfig } from '../cloud/config.ts'
import { waitObjectsWritable } from '../cloud/cluster.ts'
import { loadOrCreateCredentials } from '../cloud/credentials.ts'
import { readTextIfExists, writeFileAtomic } from '../cloud/files.ts'
import { readIssuedTokens } from '../cloud/issued-tokens.ts'
import { waitFor } from '../cloud/wait.ts'
import { controllerTokenEnv, envFileText } from './env-files.ts'
import { ServersError } from './errors.ts'
import { serverPaths } from './paths.ts'
import type { ClusterPlan } from './plan.ts'

async function healthy(agent: Agent, ctx: AgentContext, what: string, progress: (m: string) => void): Promise<void> {
  const detail = await waitFor(() => agent.health(ctx), {
    timeoutMs: 300_000,
    intervalMs: 1000,
    what,
    onProgress: (ms) => progress(`  waiting for ${what} (${Math.round(ms / 1000)}s)`),
  })
  progress(`${what}: healthy, ${detail}`)
}

export async function initCluster(plan: ClusterPlan, progress: (m: string) => void): Promise<string> {
  const file = layout(plan.shared).credentials
  if ((await readTextIfExists(file)) === undefined)
    throw new ServersError('LEAN_ERR_SERVERS_PREPARE', `${file} is missing: run cluster:init on the services server (${plan.inventory.services}), after cluster:prepare`)
  const credentials = await loadOrCreateCredentials(plan.shared)
  const ctx = (config: CloudConfig): AgentContext => ({ config, credentials, binaries: {}, progress })
  const first = plan.first
  await healthy(consulAgent, ctx(first.config), `consul@${first.server.name}`, progress)
  await consulAgent.ensureResources!(ctx(first.config))
  // Its health check bootstraps the ACLs (through the first server only) and waits for its client.
  await healthy(nomadAgent, ctx(first.config), `nomad@${first.server.name}`, progress)
  await nomadAgent.ensureResources!(ctx(first.config))
  for (const agent of [s3Agent, postgresAgent]) {
    await healthy(agent, ctx(plan.shared), `${agent.name}@${plan.inventory.services}`, progress)
    await agent.ensureResources!(ctx(plan.shared))
  }
  // S3 answering is not enough when the objects live on the servers: the volume servers must have joined its master.
  if (plan.shared.objectsOnNodes) await waitObjectsWritable(plan.shared, plan.servers.length, credentials, progress)
  const target = serverPaths(plan.inventory).controllerTokenEnv
  const tokens = controllerTokenEnv(await readIssuedTokens(first.config))
  await writeFileAtomic(target, envFileText("Written by 'npm run cluster:init': the controller's Nomad token (lean-controller.service).", tokens), 0o600)
  return target
}
