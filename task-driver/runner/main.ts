// Entry point of a task's runner, the node engine's process (the fallback
// engine: jco-transpiled glue in worker threads behind a Node front server).
// A long-lived process per task, started detached by the plugin so the task
// survives plugin and Nomad client restarts. Its stdout/stderr are the task's
// log FIFOs. The default engine needs no runner: the plugin starts the
// wasmtime host directly (plugin/wasmtime-task.ts).
import { rm } from 'node:fs/promises'
import pino from 'pino'
import { DriverError } from '../errors.ts'
import { compileCoreModules, prepareComponent } from './component-cache.ts'
import { InstancePool } from './instance-pool.ts'
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
let capabilities: CapabilityServer | undefined
let stopping = false
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  await pool?.close()
  await capabilities?.close()
  await finish({ exitCode: 0, signal: 0, oomKilled: false })
}
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGHUP', () => {}) // the session leader must not die with a terminal

try {
  const started = Date.now()
  await rm(stateFile(spec.stateDir, 'exit.json'), { force: true })
  if (spec.config.engine !== 'node') throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `the runner serves the node engine only, not ${spec.config.engine}`)
  const ready = await startNode()
  const startMs = Date.now() - started
  await writeJsonAtomic(stateFile(spec.stateDir, 'ready.json'), { pid: process.pid, port: spec.port, startMs, cached: ready.cached })
  log.info({ engine: spec.config.engine, instances: spec.config.instances, address: `${spec.host}:${spec.port}`, startMs, cached: ready.cached }, 'serving')
} catch (err) {
  const code = err instanceof DriverError ? err.code : 'LEAN_ERR_COMPONENT_TRAP'
  const reason = err instanceof Error ? err.message : String(err)
  const message = err instanceof DriverError ? reason : `the component trapped while starting: ${reason}`
  log.error({ code, err: message }, 'start failed')
  await pool?.close().catch(() => {})
  await finish({ exitCode: 1, signal: 0, oomKilled: false, error: message, code })
}

/** What the guest sees: the task's variables plus where and how to call the capability API. */
async function startCapabilities(): Promise<{ guestEnv: Record<string, string>; authority: string }> {
  capabilities = await startCapabilityServer(spec.config, spec.capabilities, spec.capabilityToken, log)
  return { guestEnv: { ...spec.guestEnv, LEAN_CAPABILITIES_URL: capabilities.url, LEAN_CAPABILITY_TOKEN: spec.capabilityToken }, authority: capabilities.authority }
}

/** The fallback engine: jco-transpiled JS glue in worker threads, behind a Node front server. */
async function startNode(): Promise<{ cached: boolean }> {
  const component = await prepareComponent(spec.config.component, spec.config.sha256, spec.cacheDir, spec.capabilities.fetchS3)
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
