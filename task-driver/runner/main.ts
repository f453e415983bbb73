// Entry point of a task's runner: a long-lived process per task, started
// detached by the plugin so the task survives plugin and Nomad client
// restarts. Its stdout/stderr are the task's log FIFOs.
import { rm } from 'node:fs/promises'
import pino from 'pino'
import { DriverError } from '../errors.ts'
import { compileCoreModules, prepareComponent } from './component-cache.ts'
import { InstancePool } from './instance-pool.ts'
import { componentFile, WasmtimeHost } from './wasmtime-host.ts'
import { recordEvent } from './task-events.ts'
import { startCapabilityServer, type CapabilityServer } from './capability-server.ts'
import { readJson, stateFile, writeJsonAtomic, type ExitReport, type RunnerSpec } from './runner-spec.ts'

const specFile = process.argv[2]
if (!specFile) {
  process.stderr.write('usage: runner <runner.json>\n')
  process.exit(2)
}
const spec = (await readJson<RunnerSpec>(specFile))!
const log = pino({ base: { task: spec.taskId, component: spec.config.component } }, pino.destination({ fd: 2, sync: false }))
// Nomad's log reader may go away (agent restart); a broken pipe must not kill the task.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})

async function finish(report: ExitReport): Promise<never> {
  await writeJsonAtomic(stateFile(spec.stateDir, 'exit.json'), report)
  log.flush()
  process.exit(report.exitCode)
}

let pool: InstancePool | undefined
let host: WasmtimeHost | undefined
let capabilities: CapabilityServer | undefined
let stopping = false
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  await pool?.close()
  await host?.stop()
  await capabilities?.close()
  await finish({ exitCode: 0, signal: 0, oomKilled: false })
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGHUP', () => {}) // the session leader must not die with a terminal

try {
  const started = Date.now()
  await rm(stateFile(spec.stateDir, 'exit.json'), { force: true })
  const ready = spec.config.engine === 'wasmtime' ? await startWasmtime() : await startNode()
  const startMs = Date.now() - started
  await writeJsonAtomic(stateFile(spec.stateDir, 'ready.json'), { pid: process.pid, port: spec.port, startMs, cached: ready.cached })
  log.info({ engine: spec.config.engine, instances: spec.config.instances, address: `${spec.host}:${spec.port}`, startMs, cached: ready.cached }, 'serving')
} catch (err) {
  const code = err instanceof DriverError ? err.code : 'LEAN_ERR_COMPONENT_TRAP'
  const reason = err instanceof Error ? err.message : String(err)
  const message = err instanceof DriverError ? reason : `the component trapped while starting: ${reason}`
  log.error({ code, err: message }, 'start failed')
  await pool?.close().catch(() => {})
  await host?.stop().catch(() => {})
  await finish({ exitCode: 1, signal: 0, oomKilled: false, error: message, code })
}

/** What the guest sees: the task's variables plus where and how to call the capability API. */
async function startCapabilities(): Promise<{ guestEnv: Record<string, string>; authority: string }> {
  capabilities = await startCapabilityServer(spec.config.grants, spec.capabilities, spec.capabilityToken, log)
  return { guestEnv: { ...spec.guestEnv, LEAN_CAPABILITIES_URL: capabilities.url, LEAN_CAPABILITY_TOKEN: spec.capabilityToken }, authority: capabilities.authority }
}

/** The default engine: our wasmtime host serves the port; we supervise it. */
async function startWasmtime(): Promise<{ cached: boolean }> {
  const file = await componentFile(spec.config.component, spec.config.sha256, spec.cacheDir, spec.capabilities.s3)
  const { guestEnv, authority } = await startCapabilities()
  // Outbound HTTP from the guest may reach the capability API and nothing else.
  const started = await WasmtimeHost.start(spec, file, guestEnv, [authority], log)
  host = started.host
  void host.exited.then(async ({ code, signal }) => {
    if (stopping) return
    // The host died under us (killed, crashed): end the task so Nomad restarts it.
    const reason = `the wasmtime host ended unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})`
    log.error({ code, signal }, reason)
    stopping = true
    await capabilities?.close().catch(() => {})
    await finish({ exitCode: 1, signal: 0, oomKilled: false, error: reason, code: 'LEAN_ERR_DRIVER_RUNNER_START' })
  })
  return { cached: started.ready.cached }
}

/** The fallback engine: jco-transpiled JS glue in worker threads, behind a Node front server. */
async function startNode(): Promise<{ cached: boolean }> {
  const component = await prepareComponent(spec.config.component, spec.config.sha256, spec.cacheDir, spec.capabilities.s3)
  const modules = await compileCoreModules(component)
  const { guestEnv, authority } = await startCapabilities()
  pool = new InstancePool({
    size: spec.config.instances,
    host: spec.host,
    port: spec.port,
    requestTimeoutMs: spec.config.requestTimeoutMs,
    maxRequestBodyBytes: spec.config.maxRequestBodyBytes,
    worker: {
      glue: component.glue,
      modules,
      env: guestEnv,
      args: spec.config.args,
      memoryLimitBytes: spec.config.instanceMemoryBytes,
      allowedAuthorities: [authority],
    },
    log,
    onReplace: (reason) => void recordEvent(spec.stateDir, { message: `Instance replaced: ${reason}` }),
  })
  await pool.start()
  return { cached: component.cached }
}
