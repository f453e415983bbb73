// `cloud:up`: start every agent that is not already running, wait until each
// is healthy, create buckets/database/migrations, and write cloud.env.
// Idempotent: a second call reuses the running agents, except one whose
// config changed since it started, which it restarts.
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Agent, AgentContext } from './agent.ts'
import { agents } from './agents/all.ts'
import { resolveBinaries } from './binaries.ts'
import { layout, loadConfig, type CloudConfig } from './config.ts'
import { readIssuedTokens } from './issued-tokens.ts'
import { cloudEnv, loadOrCreateCredentials, writeEnvFile, type Credentials } from './credentials.ts'
import { CloudError } from './errors.ts'
import { isPortFree } from './ports.ts'
import { ensurePrerequisites } from './prerequisites.ts'
import { isAlive, removePidFile, runningPid, spawnDetached, stopProcess } from './processes.ts'
import { ensureTls } from './tls.ts'
import { waitFor } from './wait.ts'

export interface UpResult {
  readonly envFile: string
  readonly env: Record<string, string>
  readonly started: string[]
  readonly reused: string[]
}

export function agentFiles(config: CloudConfig, agent: Agent) {
  const paths = layout(config)
  return {
    logFile: path.join(paths.logs, `${agent.name}.log`),
    pidFile: path.join(paths.run, `${agent.name}.pid`),
  }
}

async function tailOf(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

async function assertPortsFree(config: CloudConfig, agent: Agent): Promise<void> {
  for (const port of agent.ports(config)) {
    if (!(await isPortFree(config.host, port))) {
      throw new CloudError(
        'LEAN_ERR_CLOUD_PORT_IN_USE',
        `${agent.name} cannot start: ${config.host}:${port} is already in use by another process ` +
          `(set LEAN_CLOUD_${agent.name.toUpperCase()}_*_PORT to move it, or stop that process)`,
      )
    }
  }
}

/** What to run when an agent's state is broken, for the start failure message. */
export function resetHint(config: CloudConfig, agent: Agent): string {
  if (!agent.resetState) return ''
  const isDefault = config.dataDir === loadConfig({}).dataDir
  const command = `npm run cloud:reset -- ${agent.name}`
  return (
    `\nIf its state is broken, reset it (keeps Consul KV, S3 objects and the database): ${command}` +
    (isDefault ? '' : ` (with the same LEAN_CLOUD_* variables; for the tests' cloud: npm run test:cloud -- reset ${agent.name})`)
  )
}

/** Stops one agent, deletes its own state, and starts the cloud again. */
export async function reset(config: CloudConfig, names: readonly string[], progress: (m: string) => void): Promise<UpResult> {
  const chosen = names.map((name) => {
    const agent = agents.find((a) => a.name === name)
    if (!agent) throw new CloudError('LEAN_ERR_CLOUD_RESET', `no agent is named '${name}' (agents: ${agents.map((a) => a.name).join(', ')})`)
    if (!agent.resetState) {
      throw new CloudError('LEAN_ERR_CLOUD_RESET', `${name} holds the cloud's data (KV, objects or the database) and has no reset; its state is under ${config.dataDir}`)
    }
    return agent
  })
  if (chosen.length === 0) throw new CloudError('LEAN_ERR_CLOUD_RESET', `name the agent(s) to reset: ${agents.filter((a) => a.resetState).map((a) => a.name).join(', ')}`)
  for (const agent of chosen) {
    await stopAgent(config, agent, progress)
    progress(`${agent.name}: ${await agent.resetState!(config)}`)
  }
  return up(config, progress)
}

/** One agent run with one config: the single cloud's, a cluster node's, or a cluster's shared services'. */
export interface AgentUnit {
  readonly agent: Agent
  readonly config: CloudConfig
}

/** consul, or consul@n2 for a cluster's node. */
export const unitName = ({ agent, config }: AgentUnit): string => (config.node ? `${agent.name}@${config.node.name}` : agent.name)

async function waitHealthy(ctx: AgentContext, unit: AgentUnit, pid: number): Promise<string> {
  const { agent } = unit
  const { logFile } = agentFiles(ctx.config, agent)
  return waitFor(
    async () => {
      if (!(await isAlive(pid))) {
        throw new CloudError('LEAN_ERR_CLOUD_START', `${unitName(unit)} exited during start. Last lines of ${logFile}:\n${await tailOf(logFile)}${resetHint(ctx.config, agent)}`)
      }
      return agent.health(ctx)
    },
    {
      timeoutMs: ctx.config.startTimeoutMs,
      what: `${unitName(unit)} to become healthy (log: ${logFile})`,
      intervalMs: 250,
      onProgress: (ms) => ctx.progress(`  waiting for ${unitName(unit)} (${Math.round(ms / 1000)}s)`),
      // A process that died is reported at once, not after the timeout.
      isFatal: (err) => err instanceof CloudError && err.code === 'LEAN_ERR_CLOUD_START',
    },
  )
}

/**
 * Starts every unit that is not already running (restarting one whose config
 * is stale, or every TLS user when certificates were renewed), then waits
 * until all of them are healthy. Returns which were started and reused.
 */
export async function bringUp(
  units: readonly AgentUnit[],
  credentials: Credentials,
  tlsRenewed: boolean,
  progress: (m: string) => void,
): Promise<{ started: string[]; reused: string[]; binaries: Record<string, string> }> {
  const running = new Map<AgentUnit, number>()
  for (const unit of units) {
    const { agent, config } = unit
    const pid = await runningPid(agentFiles(config, agent).pidFile)
    if (pid === undefined) continue
    // Agents read their certificates at start only.
    const stale = agent.usesTls && tlsRenewed ? 'its TLS certificates were renewed' : await agent.restartReason?.({ config, credentials, progress })
    if (stale) {
      progress(`${unitName(unit)}: restarting, ${stale}`)
      await stopAgent(config, agent, progress)
    } else {
      running.set(unit, pid)
    }
  }
  const toStart = units.filter((u) => !running.has(u))
  const binaries = await resolveBinaries(units[0]!.config, [...new Set(toStart.flatMap((u) => u.agent.programs))])
  const contextOf = (unit: AgentUnit): AgentContext => ({ config: unit.config, credentials, binaries, progress })

  const pids = new Map(running)
  for (const unit of toStart) {
    const { agent, config } = unit
    // A node's address lives only in its own namespace, where nothing else runs.
    if (!config.node) await assertPortsFree(config, agent)
    await agent.prepare(contextOf(unit))
    const spec = await agent.spawnSpec(contextOf(unit))
    const files = agentFiles(config, agent)
    const pid = await spawnDetached({ name: unitName(unit), ...spec, ...(config.node?.netnsPath && { netnsPath: config.node.netnsPath }), ...files })
    progress(`${unitName(unit)}: started (pid ${pid}, log ${files.logFile})`)
    pids.set(unit, pid)
  }
  for (const [unit, pid] of running) progress(`${unitName(unit)}: already running (pid ${pid})`)

  // Wait for all of them together; report each as it turns healthy.
  await Promise.all(
    units.map(async (unit) => {
      const detail = await waitHealthy(contextOf(unit), unit, pids.get(unit)!)
      progress(`${unitName(unit)}: healthy, ${detail}`)
    }),
  )
  return { started: toStart.map(unitName), reused: [...running.keys()].map(unitName), binaries }
}

export async function up(config: CloudConfig, progress: (m: string) => void): Promise<UpResult> {
  const paths = layout(config)
  await ensurePrerequisites(config)
  await mkdir(paths.logs, { recursive: true })
  await mkdir(paths.run, { recursive: true })
  const credentials = await loadOrCreateCredentials(config)
  const renewed = await ensureTls(config)
  for (const { file, reason } of renewed) progress(`TLS: made ${file} (${reason})`)

  const { started, reused, binaries } = await bringUp(
    agents.map((agent) => ({ agent, config })),
    credentials,
    renewed.length > 0,
    progress,
  )
  for (const agent of agents) await agent.ensureResources?.({ config, credentials, binaries, progress })

  const env = cloudEnv(config, credentials, await readIssuedTokens(config))
  const envFile = await writeEnvFile(config, env)
  return { envFile, env, started, reused }
}

/** Stops one agent (its stop signal, SIGKILL after its grace) and forgets its pid file. */
export async function stopAgent(config: CloudConfig, agent: Agent, progress: (m: string) => void): Promise<void> {
  const { pidFile } = agentFiles(config, agent)
  const pid = await runningPid(pidFile)
  if (pid === undefined) {
    progress(`${agent.name}: not running`)
  } else {
    const how = await stopProcess(pid, agent.stopSignal, agent.stopGraceMs)
    progress(`${agent.name}: ${how} (pid ${pid})`)
  }
  await removePidFile(pidFile)
}

/** Reports whether an agent has a live process, and whether it answers. */
export async function agentStatus(config: CloudConfig, agent: Agent, credentials: Credentials) {
  const pid = await runningPid(agentFiles(config, agent).pidFile)
  if (pid === undefined) return { name: agent.name, pid, healthy: false, detail: 'not running' }
  try {
    const detail = await agent.health({ config, credentials, progress: () => {} })
    return { name: agent.name, pid, healthy: detail !== false, detail: detail || 'starting' }
  } catch (err) {
    return { name: agent.name, pid, healthy: false, detail: `unhealthy: ${(err as Error).message}` }
  }
}
