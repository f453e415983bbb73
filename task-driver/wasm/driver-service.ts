// The Driver service: Nomad's task lifecycle calls, delegated to TaskHandle.
// Unknown task ids are answered idempotently where Nomad retries (stop,
// destroy), since error identity does not cross gRPC.
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import type { ServerWritableStream } from '@grpc/grpc-js'
import type { Logger } from 'pino'
import { decodeCtyMsgpack } from '../kit/cty-msgpack.ts'
import { DriverError } from '../kit/errors.ts'
import { FSIsolation, HealthState, MountConfigs, TaskState } from '../kit/proto/load.ts'
import type { CapabilityServer } from '../capabilities/capability-server.ts'
import { defaultComponentSources } from './fetch-component.ts'
import type { RunnerSpec, TaskReservation } from './runner-spec.ts'
import { parseTaskConfig, taskConfigSpec } from './task-config.ts'
import { unary } from '../kit/grpc-errors.ts'
import { durationMs, inspectTaskResponse } from '../kit/messages.ts'
import { serveFingerprints, TaskEventHub, type Fingerprint, type TaskEvent } from '../kit/driver-kit.ts'
import { sampleProcessTree } from '../../ground/proc-stats.ts'
import type { PluginConfig } from './plugin-config.ts'
import { streamTaskStats } from '../kit/stats-stream.ts'
import { grantedBackends, launchTask } from './launch-task.ts'
import { TaskHandle, type DriverState } from './task-handle.ts'
import { detectCgroupLayout } from './task-cgroup.ts'
import { recoveredCapabilities, serveCapabilities } from './wasmtime-task.ts'

export const DRIVER_VERSION = '0.1.0'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
// Task env the guest may see; the rest (tokens, host paths) stays on the host.
const GUEST_NOMAD_VARS = ['NOMAD_ALLOC_ID', 'NOMAD_ALLOC_INDEX', 'NOMAD_ALLOC_NAME', 'NOMAD_JOB_NAME', 'NOMAD_GROUP_NAME', 'NOMAD_TASK_NAME', 'NOMAD_DC', 'NOMAD_REGION', 'NOMAD_NAMESPACE']


export interface DriverContext {
  readonly log: Logger
  readonly config: () => PluginConfig
}

/** Where the task's port is: the PortMapping Nomad gives, or the allocated network. */
function findPort(task: Obj, label: string): { host: string; port: number } {
  for (const p of (task.resources?.ports ?? []) as Obj[]) {
    if (p.label === label) return { host: p.host_ip || '127.0.0.1', port: Number(p.value) }
  }
  for (const n of (task.resources?.allocated_resources?.networks ?? []) as Obj[]) {
    for (const p of [...(n.reserved_ports ?? []), ...(n.dynamic_ports ?? [])] as Obj[]) {
      if (p.label === label) return { host: n.ip || '127.0.0.1', port: Number(p.value) }
    }
  }
  throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `invalid task config: port: no port labelled "${label}" in the group's network block`)
}

/** The backends the capability API reaches, from the plugin config (every bucket's identity: launchTask keeps only the granted ones). */
function capabilityBackends(pluginConfig: PluginConfig): RunnerSpec['capabilities'] {
  return {
    ...(pluginConfig.s3 && { fetchS3: pluginConfig.s3 }),
    buckets: pluginConfig.s3Buckets,
    ...(pluginConfig.databaseUrl && { databaseUrl: pluginConfig.databaseUrl }),
    ...(pluginConfig.consulDns && { consulDns: pluginConfig.consulDns }),
    ...(pluginConfig.smtp && { smtp: pluginConfig.smtp }),
  }
}

/**
 * What Nomad reserved for the task: memory (memory_max when the job sets one),
 * CPU shares, and the cpuset cgroup it made.
 */
function reservationOf(task: Obj): TaskReservation {
  const linux = (task.resources?.linux_resources ?? {}) as Obj
  const memory = task.resources?.allocated_resources?.memory ?? {}
  const memoryBytes = Number(linux.memory_limit_bytes) || Number(memory.memory_max_mb || memory.memory_mb || 0) * 1024 * 1024
  if (!(memoryBytes > 0)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'invalid task: resources.memory: Nomad sent no memory reservation for the task')
  const nomadCgroup = typeof linux.cpuset_cgroup === 'string' && linux.cpuset_cgroup !== '' ? linux.cpuset_cgroup : undefined
  const cpuShares = Number(linux.cpu_shares) || Number(task.resources?.allocated_resources?.cpu?.cpu_shares) || 100
  return { memoryBytes, cpuShares, ...(nomadCgroup && { nomadCgroup }) }
}

export function createDriverService(ctx: DriverContext) {
  const tasks = new Map<string, TaskHandle>()
  const events = new TaskEventHub()
  const emit = (event: TaskEvent) => events.emit(event)

  /** Runner events (instance replaced: trap, memory, timeout) become Nomad task events. */
  function forward(handle: TaskHandle, task: Obj, fromStart: boolean): void {
    void handle.forwardEvents(
      (event) => emit({ task_id: task.id, alloc_id: task.alloc_id, task_name: task.name, message: event.message, ...(event.annotations && { annotations: event.annotations }) }),
      fromStart,
    )
  }

  /** A node that cannot run a task (no host binary, no cgroups to hold it) says so, and Nomad places no task there. */
  async function fingerprint(): Promise<Fingerprint> {
    const unfit = !ctx.config().wasmtimeHost
      ? 'the plugin config names no wasmtime_host'
      : !(await detectCgroupLayout())
        ? 'this node mounts no cgroup memory, cpu and pids controllers to hold a task to its reservation'
        : undefined
    return {
      health: unfit ? HealthState.UNHEALTHY : HealthState.HEALTHY,
      health_description: unfit ? `Unhealthy: ${unfit}` : 'Healthy',
      attributes: {
        'driver.wasm.version': { string_val: DRIVER_VERSION },
        'driver.wasm.engines': { string_val: ctx.config().wasmtimeHost ? 'wasmtime' : '' },
        'driver.wasm.node': { string_val: process.versions.node },
      },
    }
  }

  function handleOf(taskId: string): TaskHandle {
    const handle = tasks.get(taskId)
    if (!handle) throw new DriverError('LEAN_ERR_DRIVER_TASK_NOT_FOUND', `task ${taskId} is not known to this driver`)
    return handle
  }

  async function startTask(task: Obj) {
    const log = ctx.log.child({ task_id: task.id, alloc_id: task.alloc_id })
    if (tasks.has(task.id)) throw new DriverError('LEAN_ERR_DRIVER_TASK_EXISTS', `task ${task.id} is already running`)
    const raw = decodeCtyMsgpack(task.msgpack_driver_config)
    const config = parseTaskConfig(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)))
    const { host, port } = findPort(task, config.port)
    const env = task.env as Record<string, string>
    const guestEnv: Record<string, string> = {}
    for (const k of GUEST_NOMAD_VARS) if (env[k] !== undefined) guestEnv[k] = env[k]
    Object.assign(guestEnv, config.env)
    const pluginConfig = ctx.config()
    const spec: RunnerSpec = {
      taskId: task.id,
      config,
      host,
      port,
      cacheDir: pluginConfig.cacheDir,
      stateDir: path.join(task.alloc_dir, task.name, '.wasm-runner'),
      guestEnv,
      capabilities: capabilityBackends(pluginConfig),
      capabilityToken: randomBytes(24).toString('base64url'),
      reservation: reservationOf(task),
      ...(pluginConfig.wasmtimeHost && { wasmtimeHost: pluginConfig.wasmtimeHost }),
    }
    log.info({ component: config.component, address: `${host}:${port}` }, 'starting task')
    try {
      // Where components may come from is this client's decision: its plugin config (the artifacts object only, by default).
      const sources = pluginConfig.componentSources ?? defaultComponentSources()
      const { handle, ready, capabilities } = await launchTask(spec, task.stdout_path, task.stderr_path, log, ctx.log, sources)
      tasks.set(task.id, handle)
      keepCapabilities(handle, capabilities)
      forward(handle, task, true)
      const how = ready.cached ? 'from the compile cache' : 'after fetching and compiling'
      emit({ task_id: task.id, alloc_id: task.alloc_id, task_name: task.name, message: `Component serving on ${host}:${port} ${how} in ${ready.startMs} ms` })
      const handleState: DriverState = handle.state
      return {
        handle: { version: 1, config: task, state: TaskState.RUNNING, driver_state: Buffer.from(JSON.stringify(handleState)) },
        network_override: { port_map: {}, addr: host, auto_advertise: false },
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'task failed to start')
      emit({ task_id: task.id, alloc_id: task.alloc_id, task_name: task.name, message: `Failed to start: ${(err as Error).message}` })
      throw err
    }
  }

  /** Serves a task's capability API until the task ends (DestroyTask waits for that end). */
  function keepCapabilities(handle: TaskHandle, server: CapabilityServer): void {
    void handle.waitExit().then(() => server.close().catch(() => {}))
  }

  /** After a plugin restart: the host still calls the same address with the same token. */
  async function recoverCapabilities(handle: TaskHandle): Promise<void> {
    const port = handle.state.capabilityPort
    if (port === undefined || handle.exited) return
    const saved = await recoveredCapabilities(handle.state.stateDir)
    if (!saved) throw new DriverError('LEAN_ERR_DRIVER_RECOVER', `task ${handle.id}: its capabilities file is gone, so its capability API cannot be served again`)
    const server = await serveCapabilities(saved, grantedBackends(capabilityBackends(ctx.config()), saved.grants), saved.token, ctx.log.child({ task_id: handle.id }), port, ctx.log)
    keepCapabilities(handle, server)
  }

  return {
    Init: unary(() => ({})),
    Shutdown: unary(() => ({})),
    TaskConfigSchema: unary(() => ({ spec: taskConfigSpec })),
    Capabilities: unary(() => ({
      capabilities: { send_signals: true, exec: false, fs_isolation: FSIsolation.NONE, mount_configs: MountConfigs.NO_MOUNTS },
    })),

    Fingerprint(call: ServerWritableStream<Obj, Obj>) {
      serveFingerprints(call, fingerprint)
    },

    TaskEvents(call: ServerWritableStream<Obj, Obj>) {
      events.serve(call)
    },

    StartTask: unary((req: Obj) => startTask(req.task)),

    RecoverTask: unary(async (req: Obj) => {
      const id = req.handle?.config?.id as string | undefined
      if (!id) throw new DriverError('LEAN_ERR_DRIVER_RECOVER', 'recover: the handle carries no task id')
      if (tasks.has(id)) return {}
      const state = JSON.parse(Buffer.from(req.handle.driver_state ?? []).toString('utf8') || '{}') as DriverState
      const handle = await TaskHandle.recover(id, state)
      tasks.set(id, handle)
      // The task serves on without its capability API if that cannot come back
      // (its port taken meanwhile): its guest's calls fail, visibly, until Nomad restarts it.
      await recoverCapabilities(handle).catch((err: Error) => {
        ctx.log.error({ task_id: id, err: err.message }, 'cannot serve the recovered task\'s capability API')
        emit({ task_id: id, alloc_id: req.handle.config.alloc_id, task_name: req.handle.config.name, message: `Capability API not restored after the driver restarted: ${err.message}` })
      })
      forward(handle, req.handle.config, false)
      ctx.log.info({ task_id: id, pid: state.pid }, 'recovered task')
      return {}
    }),

    WaitTask: unary(async (req: Obj) => {
      const exit = await handleOf(req.task_id).waitExit()
      return { result: { exit_code: exit.exitCode, signal: exit.signal, oom_killed: exit.oomKilled }, err: exit.error ?? '' }
    }),

    StopTask: unary(async (req: Obj) => {
      const handle = tasks.get(req.task_id)
      if (handle) await handle.stop((req.signal || 'SIGTERM') as NodeJS.Signals, durationMs(req.timeout, 5000))
      return {}
    }),

    DestroyTask: unary(async (req: Obj) => {
      const handle = tasks.get(req.task_id)
      if (!handle) return {}
      if (await handle.isRunning()) {
        if (!req.force) throw new DriverError('LEAN_ERR_DRIVER_TASK_EXISTS', `task ${req.task_id} is still running; stop it first`)
        await handle.stop('SIGKILL', 1000)
      }
      tasks.delete(req.task_id)
      return {}
    }),

    InspectTask: unary(async (req: Obj) => {
      const handle = handleOf(req.task_id)
      const attributes = { pid: String(handle.state.pid), port: String(handle.state.port) }
      return inspectTaskResponse({ id: handle.id, startedAt: handle.state.startedAt, exit: handle.exited, attributes })
    }),

    TaskStats(call: ServerWritableStream<Obj, Obj>) {
      const handle = handleOf(call.request.task_id)
      // The task's process tree: the host and anything below it.
      const source = { id: handle.id, pid: handle.state.pid, ended: () => handle.exited !== undefined, sample: sampleProcessTree }
      streamTaskStats(call, source, durationMs(call.request.collection_interval, 1000))
    },

    SignalTask: unary(async (req: Obj) => {
      handleOf(req.task_id).signal(req.signal as NodeJS.Signals)
      return {}
    }),
  }
}
