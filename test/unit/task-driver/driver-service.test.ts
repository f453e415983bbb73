// The kit's Driver service over a stub driver (the function boundary): the
// task map, events, wait/stop/destroy/inspect/signal and recovery's
// bookkeeping behave the same for every driver.
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import pino from 'pino'
import { driverService, type Driver, type RunningTask, type TaskExit } from '../../../task-driver/kit/driver.ts'
import type { NomadTask } from '../../../task-driver/kit/nomad-task.ts'
import { HealthState, TaskState } from '../../../task-driver/kit/proto/load.ts'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

class StubTask implements RunningTask {
  readonly pid = 4242
  readonly startedAt = '2026-12-07T10:00:00.000Z'
  exited: TaskExit | undefined
  running = true
  destroyed = false
  stops: Array<[string, number]> = []
  #waiters: Array<(e: TaskExit) => void> = []
  constructor(readonly signals: boolean) {}
  waitExit(): Promise<TaskExit> {
    return this.exited ? Promise.resolve(this.exited) : new Promise((resolve) => this.#waiters.push(resolve))
  }
  async isRunning() {
    return this.running
  }
  end(exit: TaskExit) {
    this.running = false
    this.exited = exit
    for (const w of this.#waiters.splice(0)) w(exit)
  }
  async stop(signal: NodeJS.Signals, timeoutMs: number) {
    this.stops.push([signal, timeoutMs])
    this.end({ exitCode: 0, signal: 15 })
  }
  async destroy() {
    this.destroyed = true
    this.end({ exitCode: 137, signal: 9 })
  }
  attributes() {
    return { pid: String(this.pid) }
  }
  get signal() {
    return this.signals ? (_s: NodeJS.Signals) => undefined : undefined
  }
}

function stubDriver(options: { signals?: boolean; failStart?: string } = {}) {
  const started: StubTask[] = []
  const recovered: Array<{ id: string; state: unknown }> = []
  const driver: Driver<StubTask> = {
    name: 'stub',
    taskConfigSpec: { attrs: {} } as never,
    sendsSignals: options.signals ?? false,
    defaultStopTimeoutMs: 7000,
    noExec: 'no exec here',
    async fingerprint() {
      return { health: HealthState.HEALTHY, health_description: 'Healthy', attributes: {} }
    },
    async start(task, ctx) {
      if (options.failStart) throw Object.assign(new Error(options.failStart), { code: 'LEAN_ERR_DRIVER_CONFIG' })
      ctx.emit('fetching', { step: 'fetch' })
      const t = new StubTask(options.signals ?? false)
      started.push(t)
      return { task: t, state: { version: 1, n: started.length }, address: '10.0.0.9', message: `serving ${task.name}` }
    },
    async recover(_task, state) {
      recovered.push({ id: _task.id, state })
      return new StubTask(options.signals ?? false)
    },
    sample: async () => undefined,
  }
  return { driver, started, recovered }
}

const nomadTask = (id = 'alloc1/web/1'): NomadTask => ({
  id,
  name: 'web',
  alloc_id: 'alloc1',
  alloc_dir: '/tmp/none',
  stdout_path: '/dev/null',
  stderr_path: '/dev/null',
  env: {},
  msgpack_driver_config: new Uint8Array(),
})

/** Calls a unary handler as grpc-js would; rejects with the gRPC error. */
function call(service: Obj, method: string, request: Obj): Promise<Obj> {
  return new Promise((resolve, reject) =>
    service[method]({ request }, (err: Obj | null, value: Obj) => (err ? reject(err) : resolve(value))),
  )
}

function eventStream() {
  const emitter = new EventEmitter()
  const written: Obj[] = []
  return { call: Object.assign(emitter, { write: (m: Obj) => (written.push(m), true) }), written }
}

const log = pino({ level: 'silent' })

test('start: the task is kept, its events and start message reach Nomad, and the handle carries its state', async () => {
  const { driver } = stubDriver()
  const service = driverService(driver, log)
  const events = eventStream()
  service.TaskEvents(events.call as never)
  const answer = await call(service, 'StartTask', { task: nomadTask() })
  assert.equal(answer.handle.state, TaskState.RUNNING)
  assert.deepEqual(JSON.parse(answer.handle.driver_state.toString()), { version: 1, n: 1 })
  assert.equal(answer.network_override.addr, '10.0.0.9')
  assert.deepEqual(events.written.map((e) => e.message), ['fetching', 'serving web'])
  assert.deepEqual(events.written[0]!.annotations, { step: 'fetch' })
  assert.equal(events.written[1]!.task_id, 'alloc1/web/1')
  await assert.rejects(call(service, 'StartTask', { task: nomadTask() }), (err: Obj) => /LEAN_ERR_DRIVER_TASK_EXISTS/.test(err.details))
  const inspected = await call(service, 'InspectTask', { task_id: 'alloc1/web/1' })
  assert.equal(inspected.task.state, TaskState.RUNNING)
  assert.deepEqual(inspected.driver.attributes, { pid: '4242' })
})

test('a failed start is a task event and an error naming its code; nothing is kept', async () => {
  const { driver } = stubDriver({ failStart: 'invalid task config: port: no port labelled "http"' })
  const service = driverService(driver, log)
  const events = eventStream()
  service.TaskEvents(events.call as never)
  await assert.rejects(call(service, 'StartTask', { task: nomadTask() }), (err: Obj) =>
    /no port labelled "http" \(LEAN_ERR_DRIVER_CONFIG\)/.test(err.details),
  )
  assert.match(events.written[0]!.message, /^Failed to start: invalid task config/)
  await assert.rejects(call(service, 'WaitTask', { task_id: 'alloc1/web/1' }), (err: Obj) => /LEAN_ERR_DRIVER_TASK_NOT_FOUND/.test(err.details))
})

test('wait, stop and destroy: stop uses the driver default grace, destroy refuses a running task without force', async () => {
  const { driver, started } = stubDriver()
  const service = driverService(driver, log)
  await call(service, 'StartTask', { task: nomadTask() })
  await assert.rejects(call(service, 'DestroyTask', { task_id: 'alloc1/web/1', force: false }), (err: Obj) => /still running/.test(err.details))
  const waited = call(service, 'WaitTask', { task_id: 'alloc1/web/1' })
  await call(service, 'StopTask', { task_id: 'alloc1/web/1', signal: '' })
  assert.deepEqual(started[0]!.stops, [['SIGTERM', 7000]])
  assert.deepEqual((await waited).result, { exit_code: 0, signal: 15, oom_killed: false })
  await call(service, 'DestroyTask', { task_id: 'alloc1/web/1', force: false })
  assert.equal(started[0]!.destroyed, true)
  // Gone now; stop and destroy of an unknown task succeed, as Nomad retries them.
  await assert.rejects(call(service, 'InspectTask', { task_id: 'alloc1/web/1' }), (err: Obj) => /not known to the stub driver/.test(err.details))
  await call(service, 'StopTask', { task_id: 'nope' })
  await call(service, 'DestroyTask', { task_id: 'nope', force: true })
})

test('signals and exec: refused where the driver has none, with a code', async () => {
  const plain = driverService(stubDriver().driver, log)
  await call(plain, 'StartTask', { task: nomadTask() })
  await assert.rejects(call(plain, 'SignalTask', { task_id: 'alloc1/web/1', signal: 'SIGHUP' }), (err: Obj) =>
    /stub driver takes no signals.*LEAN_ERR_DRIVER_UNSUPPORTED/.test(err.details),
  )
  await assert.rejects(call(plain, 'ExecTask', {}), (err: Obj) => /no exec here \(LEAN_ERR_DRIVER_UNSUPPORTED\)/.test(err.details))
  const signalled = driverService(stubDriver({ signals: true }).driver, log)
  await call(signalled, 'StartTask', { task: nomadTask() })
  assert.deepEqual(await call(signalled, 'SignalTask', { task_id: 'alloc1/web/1', signal: 'SIGHUP' }), {})
  const caps = await call(signalled, 'Capabilities', {})
  assert.equal(caps.capabilities.send_signals, true)
})

test('recover: the state from the handle reaches the driver once; a handle without id or with bad state is refused', async () => {
  const { driver, recovered } = stubDriver()
  const service = driverService(driver, log)
  const handle = { config: nomadTask(), driver_state: Buffer.from(JSON.stringify({ version: 1, pid: 7 })) }
  await call(service, 'RecoverTask', { handle })
  await call(service, 'RecoverTask', { handle })
  assert.deepEqual(recovered, [{ id: 'alloc1/web/1', state: { version: 1, pid: 7 } }])
  const inspected = await call(service, 'InspectTask', { task_id: 'alloc1/web/1' })
  assert.equal(inspected.task.state, TaskState.RUNNING)
  await assert.rejects(call(service, 'RecoverTask', { handle: { config: {} } }), (err: Obj) => /LEAN_ERR_DRIVER_RECOVER/.test(err.details))
  await assert.rejects(call(service, 'RecoverTask', { handle: { config: nomadTask('a/b/2'), driver_state: Buffer.from('{') } }), (err: Obj) =>
    /task a\/b\/2: its driver state is not JSON/.test(err.details),
  )
})

test('stats of an unknown task end the stream with a coded error', () => {
  const service = driverService(stubDriver().driver, log)
  const errors: Obj[] = []
  const stream = Object.assign(new EventEmitter(), { request: { task_id: 'ghost' }, write: () => true })
  stream.on('error', (e: Obj) => errors.push(e))
  service.TaskStats(stream as never)
  assert.match(errors[0]!.details, /task ghost is not known to the stub driver \(LEAN_ERR_DRIVER_TASK_NOT_FOUND\)/)
})
