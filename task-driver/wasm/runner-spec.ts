// What the plugin knows of a task it starts (RunnerSpec), and the task's state
// files: the wasmtime host writes ready.json once it serves, and exit.json when
// it ends (how it ended, and why).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { TaskConfig } from './task-config.ts'
import type { CapabilityBackends } from '../capabilities/capability-server.ts'

/** What Nomad reserved for the task; the plugin enforces it with the task's cgroup. */
export interface TaskReservation {
  readonly memoryBytes: number
  readonly cpuShares: number
  /** The cpuset cgroup Nomad made for the task (absolute path), if any. */
  readonly nomadCgroup?: string
}

export interface RunnerSpec {
  readonly taskId: string
  readonly config: TaskConfig
  /** Address of the task's Nomad port, where the host listens. */
  readonly host: string
  readonly port: number
  readonly cacheDir: string
  readonly stateDir: string
  /** Variables the guest sees through wasi:cli/environment. */
  readonly guestEnv: Record<string, string>
  /** Backends of the capability API (only the granted buckets' S3 identities, plus the fetch-only one for s3:// components), and the token components present. */
  readonly capabilities: CapabilityBackends
  readonly capabilityToken: string
  /** The wasmtime host binary, when the client has one (without it no task starts). */
  readonly wasmtimeHost?: string
  /** CAs the task's https outbound grants trust besides the system's (plugin config outbound_ca_file). */
  readonly outboundCaFile?: string
  /** Set by the plugin (always) and by callers that want the task confined; without it the process runs in the caller's cgroup. */
  readonly reservation?: TaskReservation
}

export interface ReadyReport {
  readonly pid: number
  readonly port: number
  readonly startMs: number
  readonly cached: boolean
}

export interface ExitReport {
  readonly exitCode: number
  readonly signal: number
  readonly oomKilled: boolean
  readonly error?: string
  readonly code?: string
}

export const stateFile = (stateDir: string, name: 'ready.json' | 'exit.json' | 'wasm-host.json' | 'wasm-host-ready.json') => path.join(stateDir, name)

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}
