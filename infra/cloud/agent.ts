// What the up/down/status commands need to know about one agent.
import type { CloudConfig } from './config.ts'
import type { Credentials } from './credentials.ts'
import type { SpawnSpec } from './processes.ts'

export interface AgentContext {
  readonly config: CloudConfig
  readonly credentials: Credentials
  /** Absolute paths of the program binaries, by program name. */
  readonly binaries: Readonly<Record<string, string>>
  readonly progress: (message: string) => void
}

export interface Agent {
  readonly name: 'consul' | 'libvirt' | 'nomad' | 's3' | 's3-volume' | 'postgres' | 'smtp'
  /** Serves with the cloud's TLS certificates: restarted when cloud:up renews them. */
  readonly usesTls?: boolean
  /** Programs this agent needs from the binary cache (resolved before start). */
  readonly programs: readonly string[]
  /** TCP ports the agent listens on; checked free before a start. */
  ports(config: CloudConfig): number[]
  /** Signal for a graceful stop, and how long to wait before SIGKILL. */
  readonly stopSignal: NodeJS.Signals
  readonly stopGraceMs: number
  /** One-time set-up before the first start (dirs, config files, initdb). */
  prepare(ctx: AgentContext): Promise<void>
  spawnSpec(ctx: AgentContext): Promise<Omit<SpawnSpec, 'logFile' | 'pidFile' | 'name'>>
  /** Resolves to a short description when healthy; throws or returns false when not yet. */
  health(ctx: Omit<AgentContext, 'binaries'>): Promise<string | false>
  /**
   * Why a running agent must be restarted to pick up its current config (it
   * keeps the config it started with); undefined when it is up to date.
   */
  restartReason?(ctx: Omit<AgentContext, 'binaries'>): Promise<string | undefined>
  /**
   * Deletes the agent's own state so that it starts afresh, keeping what the
   * cloud's users stored (KV, objects, the database). Agents that hold such data
   * have no reset.
   */
  resetState?(config: CloudConfig): Promise<string>
  /** Idempotent set-up once healthy: buckets, databases, migrations. */
  ensureResources?(ctx: AgentContext): Promise<void>
}
