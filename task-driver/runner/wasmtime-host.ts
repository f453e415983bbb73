// The wasmtime engine: the runner hands the component to our Rust host
// (task-driver/engine, lean-wasm-host), which compiles it once per digest,
// keeps warm pooled instances and serves the task's port. The runner stays the
// task's process: it fetches the component, hosts the capability API (the only
// place the guest's outgoing HTTP may reach), supervises the host and reports.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { DriverError, type DriverErrorCode } from '../errors.ts'
import { fetchVerifiedComponent } from './component-cache.ts'
import type { S3Access } from './fetch-component.ts'
import { eventsFile } from './task-events.ts'
import { stateFile, type RunnerSpec } from './runner-spec.ts'

/** The host's spec file (its fields are the host's; see task-driver/engine/README.md). */
interface HostSpec {
  component: string
  sha256: string
  cache_dir: string
  listen: string
  instances: number
  request_timeout_ms: number
  max_request_body_bytes: number
  instance_memory_bytes: number
  env: Record<string, string>
  args: readonly string[]
  egress_allow: string[]
  events: string
  ready_file: string
}

export interface HostReady {
  readonly startMs: number
  readonly cached: boolean
}

/**
 * A local file holding the component: a local source as is (the host checks its
 * digest before compiling), anything else downloaded once per digest.
 */
export async function componentFile(source: string, sha256: string, cacheDir: string, s3?: S3Access): Promise<string> {
  if (source.startsWith('/')) {
    if (!(await stat(source).catch(() => undefined))) throw new DriverError('LEAN_ERR_COMPONENT_FETCH', `cannot fetch component ${source}: no such file`)
    return source
  }
  const file = path.join(cacheDir, 'components', `${sha256}.wasm`)
  if (await stat(file).catch(() => undefined)) return file
  const bytes = await fetchVerifiedComponent(source, sha256, s3)
  await mkdir(path.dirname(file), { recursive: true })
  const partial = `${file}.partial-${process.pid}`
  await writeFile(partial, bytes)
  await rename(partial, file)
  return file
}

/** The last `failed` event the host wrote: its code and reason. */
async function failureOf(events: string): Promise<{ code?: string | undefined; message?: string | undefined }> {
  const lines = (await readFile(events, 'utf8').catch(() => '')).trim().split('\n').reverse()
  for (const line of lines) {
    try {
      const event = JSON.parse(line) as { type?: string; code?: string; message?: string; detail?: string }
      if (event.type === 'failed') return { code: event.code, message: event.detail ?? event.message }
    } catch {
      // a line being written
    }
  }
  return {}
}

const HOST_CODES = new Set<DriverErrorCode>(['LEAN_ERR_DRIVER_CONFIG', 'LEAN_ERR_COMPONENT_DIGEST', 'LEAN_ERR_COMPONENT_COMPILE', 'LEAN_ERR_COMPONENT_TRAP', 'LEAN_ERR_COMPONENT_FETCH'])

export class WasmtimeHost {
  readonly #child: ChildProcess
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly #timeoutMs: number

  private constructor(child: ChildProcess, timeoutMs: number) {
    this.#child = child
    this.#timeoutMs = timeoutMs
    this.#exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  }

  /** Resolves when the host ends, however it ends. */
  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited
  }

  /** Starts the host and waits until every instance is warm and the port listens. */
  static async start(spec: RunnerSpec, component: string, guestEnv: Record<string, string>, egressAllow: string[], log: Logger): Promise<{ host: WasmtimeHost; ready: HostReady }> {
    if (!spec.wasmtimeHost) {
      throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'invalid task config: engine: "wasmtime" is not available on this client (its plugin config has no wasmtime_host; engines: node)')
    }
    const readyFile = stateFile(spec.stateDir, 'wasm-host-ready.json')
    await rm(readyFile, { force: true })
    const hostSpec: HostSpec = {
      component,
      sha256: spec.config.sha256,
      cache_dir: path.join(spec.cacheDir, 'wasmtime'),
      listen: `${spec.host}:${spec.port}`,
      instances: spec.config.instances,
      request_timeout_ms: spec.config.requestTimeoutMs,
      max_request_body_bytes: spec.config.maxRequestBodyBytes,
      instance_memory_bytes: spec.config.instanceMemoryBytes,
      env: guestEnv,
      args: spec.config.args,
      egress_allow: egressAllow,
      events: eventsFile(spec.stateDir),
      ready_file: readyFile,
    }
    const specPath = stateFile(spec.stateDir, 'wasm-host.json')
    await writeFile(specPath, JSON.stringify(hostSpec), { mode: 0o600 }) // holds the capability token
    // The guest's stdout/stderr are ours: the task's log FIFOs.
    const child = spawn(spec.wasmtimeHost, [specPath], { stdio: ['ignore', 'inherit', 'inherit'] })
    const host = new WasmtimeHost(child, spec.config.requestTimeoutMs)
    const spawned = await Promise.race([once(child, 'spawn').then(() => undefined), once(child, 'error').then(([err]) => err as Error)])
    if (spawned) throw new DriverError('LEAN_ERR_DRIVER_RUNNER_START', `cannot start the wasmtime host ${spec.wasmtimeHost}: ${spawned.message}`)

    let exited = false
    void host.exited.then(() => (exited = true))
    for (;;) {
      const ready = await readFile(readyFile, 'utf8').catch(() => undefined)
      if (ready) {
        const report = JSON.parse(ready) as { startMs?: number; cached?: boolean }
        log.info({ pid: child.pid, ...report }, 'wasmtime host ready')
        return { host, ready: { startMs: report.startMs ?? 0, cached: report.cached ?? false } }
      }
      if (exited) {
        const { code, message } = await failureOf(hostSpec.events)
        const known = code !== undefined && HOST_CODES.has(code as DriverErrorCode)
        throw new DriverError(known ? (code as DriverErrorCode) : 'LEAN_ERR_DRIVER_RUNNER_START', message ?? `the wasmtime host exited before serving (${JSON.stringify(await host.exited)})`)
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  /** SIGTERM: the host lets requests in flight finish (up to the request timeout); SIGKILL after that. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#child.kill('SIGTERM')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), this.#timeoutMs + 5000)
    await this.#exited
    clearTimeout(timer)
  }
}
