// The typed driver interface both of our drivers fill in, and the one
// implementation of Nomad's Driver service over it. The kit owns what every
// driver does the same way: the task map, the task-event streams, the
// fingerprint stream, stats, wait/stop/destroy/inspect, and recovery's
// bookkeeping. A driver brings only what is its own: how to start a task,
// how to find one again, and what its node can do.
import type { ServerWritableStream } from '@grpc/grpc-js'
import type { Logger } from 'pino'
import type { ProcSample } from '../../ground/proc-stats.ts'
import { DriverError } from './errors.ts'
import { serveFingerprints, TaskEventHub, type Fingerprint } from './driver-kit.ts'
import { toServiceError, unary } from './grpc-errors.ts'
import type { HclSpec } from './hclspec.ts'
import { durationMs, inspectTaskResponse } from './messages.ts'
import type { NomadTask, TaskRef } from './nomad-task.ts'
import { FSIsolation, MountConfigs, TaskState } from './proto/load.ts'
import { streamTaskStats } from './stats-stream.ts'

/** How a task ended, as WaitTask and InspectTask report it. */
export interface TaskExit {
  readonly exitCode: number
  readonly signal: number
  readonly oomKilled?: boolean
  /** Why, when the driver knows (shown by Nomad as the task's failure). */
  readonly error?: string
}

/** One running task of a driver, as the kit drives it. */
export interface RunningTask {
  /** The pid whose process (tree) TaskStats reports. */
  readonly pid: number
  readonly startedAt: string
  readonly exited: TaskExit | undefined
  waitExit(): Promise<TaskExit>
  isRunning(): Promise<boolean>
  /** Asks the task to end (`signal` where the driver has signals), and ends it after `timeoutMs`. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<void>
  /** Ends the task at once if it still runs, and removes what it kept on the node. */
  destroy(): Promise<void>
  /** What InspectTask shows under the driver's attributes. */
  attributes(): Readonly<Record<string, string>>
  /** Delivers a signal; absent where the driver takes none. */
  readonly signal?: ((signal: NodeJS.Signals) => void) | undefined
}

/** What a driver's start gives the kit. */
export interface StartedTask<T extends RunningTask> {
  readonly task: T
  /** Kept by Nomad in the task's handle and given back to `recover` (JSON). */
  readonly state: unknown
  /** The address the task's ports are on, for Nomad's service registration. */
  readonly address: string
  /** The task event that says it started (what, where, how long it took). */
  readonly message: string
}

/** What a driver may do while starting or recovering a task. */
export interface TaskContext {
  readonly log: Logger
  /** Adds a task event to the task's history in Nomad. */
  emit(message: string, annotations?: Readonly<Record<string, string>>): void
}

export interface Driver<T extends RunningTask> {
  /** As in jobs: `driver = "<name>"`. */
  readonly name: string
  readonly taskConfigSpec: HclSpec
  readonly sendsSignals: boolean
  /** StopTask's grace period when Nomad sends none. */
  readonly defaultStopTimeoutMs: number
  /** Why the driver has no exec (shown to whoever tries). */
  readonly noExec: string
  /** The first fingerprint, sent before `fingerprint()` answers (a probe may take seconds). */
  readonly firstFingerprint?: Fingerprint
  fingerprint(): Promise<Fingerprint>
  start(task: NomadTask, ctx: TaskContext): Promise<StartedTask<T>>
  /** Finds a task again after the plugin restarted, from the state `start` gave. */
  recover(task: NomadTask, state: unknown, ctx: TaskContext): Promise<T>
  /** One usage sample of the task's process (tree). */
  sample(pid: number): Promise<ProcSample | undefined>
}

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** Nomad's Driver service (driver.proto) for `driver`. */
export function driverService<T extends RunningTask>(driver: Driver<T>, log: Logger) {
  const tasks = new Map<string, T>()
  const events = new TaskEventHub()

  const contextFor = (task: TaskRef): TaskContext => ({
    log: log.child({ task_id: task.id, alloc_id: task.alloc_id }),
    emit: (message, annotations) =>
      events.emit({ task_id: task.id, alloc_id: task.alloc_id, task_name: task.name, message, ...(annotations && { annotations }) }),
  })

  function taskOf(id: string): T {
    const task = tasks.get(id)
    if (!task) throw new DriverError('LEAN_ERR_DRIVER_TASK_NOT_FOUND', `task ${id} is not known to the ${driver.name} driver`)
    return task
  }

  async function start(config: NomadTask) {
    if (tasks.has(config.id)) throw new DriverError('LEAN_ERR_DRIVER_TASK_EXISTS', `task ${config.id} is already running`)
    const ctx = contextFor(config)
    try {
      const started = await driver.start(config, ctx)
      tasks.set(config.id, started.task)
      ctx.emit(started.message)
      return {
        handle: { version: 1, config, state: TaskState.RUNNING, driver_state: Buffer.from(JSON.stringify(started.state)) },
        network_override: { port_map: {}, addr: started.address, auto_advertise: false },
      }
    } catch (err) {
      ctx.log.error({ err: (err as Error).message }, 'task failed to start')
      ctx.emit(`Failed to start: ${(err as Error).message}`)
      throw err
    }
  }

  async function recover(handle: Obj | undefined) {
    const config = handle?.config as NomadTask | undefined
    if (!config?.id) throw new DriverError('LEAN_ERR_DRIVER_RECOVER', 'recover: the handle carries no task id')
    if (tasks.has(config.id)) return {}
    let state: unknown
    try {
      state = JSON.parse(Buffer.from(handle?.driver_state ?? []).toString('utf8') || '{}')
    } catch {
      throw new DriverError('LEAN_ERR_DRIVER_RECOVER', `task ${config.id}: its driver state is not JSON`)
    }
    const task = await driver.recover(config, state, contextFor(config))
    tasks.set(config.id, task)
    return {}
  }

  return {
    Init: unary(() => ({})),
    Shutdown: unary(() => ({})),
    TaskConfigSchema: unary(() => ({ spec: driver.taskConfigSpec })),
    Capabilities: unary(() => ({
      // Nomad mounts nothing into our tasks and isolates no filesystem: each driver confines its own.
      capabilities: { send_signals: driver.sendsSignals, exec: false, fs_isolation: FSIsolation.NONE, mount_configs: MountConfigs.NO_MOUNTS },
    })),

    Fingerprint(call: ServerWritableStream<Obj, Obj>) {
      serveFingerprints(call, () => driver.fingerprint(), driver.firstFingerprint)
    },

    TaskEvents(call: ServerWritableStream<Obj, Obj>) {
      events.serve(call)
    },

    StartTask: unary((req: Obj) => start(req.task as NomadTask)),
    RecoverTask: unary((req: Obj) => recover(req.handle as Obj | undefined)),

    WaitTask: unary(async (req: Obj) => {
      const exit = await taskOf(req.task_id).waitExit()
      return { result: { exit_code: exit.exitCode, signal: exit.signal, oom_killed: exit.oomKilled ?? false }, err: exit.error ?? '' }
    }),

    // Stop and destroy of an unknown task succeed: Nomad retries them.
    StopTask: unary(async (req: Obj) => {
      const task = tasks.get(req.task_id)
      if (task) await task.stop((req.signal || 'SIGTERM') as NodeJS.Signals, durationMs(req.timeout, driver.defaultStopTimeoutMs))
      return {}
    }),

    DestroyTask: unary(async (req: Obj) => {
      const task = tasks.get(req.task_id)
      if (!task) return {}
      if (!req.force && (await task.isRunning()))
        throw new DriverError('LEAN_ERR_DRIVER_TASK_EXISTS', `task ${req.task_id} is still running; stop it first`)
      await task.destroy()
      tasks.delete(req.task_id)
      return {}
    }),

    InspectTask: unary(async (req: Obj) => {
      const task = taskOf(req.task_id)
      return inspectTaskResponse({ id: req.task_id, startedAt: task.startedAt, exit: task.exited, attributes: task.attributes() })
    }),

    TaskStats(call: ServerWritableStream<Obj, Obj>) {
      const id = call.request.task_id as string
      let task: T
      try {
        task = taskOf(id)
      } catch (err) {
        // A stream has no callback: the error ends it with the same status a unary call would get.
        call.emit('error', toServiceError(err))
        return
      }
      const source = { id, pid: task.pid, ended: () => task.exited !== undefined, sample: (pid: number) => driver.sample(pid) }
      streamTaskStats(call, source, durationMs(call.request.collection_interval, 1000))
    },

    SignalTask: unary(async (req: Obj) => {
      const task = taskOf(req.task_id)
      if (!task.signal) throw new DriverError('LEAN_ERR_DRIVER_UNSUPPORTED', `the ${driver.name} driver takes no signals; stop or restart the task instead`)
      task.signal(req.signal as NodeJS.Signals)
      return {}
    }),

    ExecTask: unary(async () => {
      throw new DriverError('LEAN_ERR_DRIVER_UNSUPPORTED', driver.noExec)
    }),
  }
}
