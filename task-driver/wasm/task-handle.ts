// One task's process, seen from the plugin: start it, wait for it, stop it,
// and find it again after a plugin or Nomad client restart (it is not our
// child then, so liveness and exit come from /proc and its exit.json).
// The process is the wasmtime host, which writes ready.json, exit.json and
// events.jsonl into the task's state dir.
import { spawn } from 'node:child_process'
import { constants as osConstants } from 'node:os'
import { chmod, mkdir, open, rm, stat } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import type { RunningTask } from '../kit/driver.ts'
import { DriverError, type DriverErrorCode } from '../kit/errors.ts'
import { processStartTicks } from '../../ground/proc-stats.ts'
import { readJson, stateFile, type ExitReport, type ReadyReport } from './runner-spec.ts'
import { eventsFile, readEventsSince, type RunnerEvent } from './task-events.ts'
import { joinCommand, oomKills, removeTaskCgroup, type TaskCgroup } from './task-cgroup.ts'

/** What Nomad keeps for us in TaskHandle.driver_state (JSON, versioned). */
export interface DriverState {
  readonly version: 1
  readonly pid: number
  readonly startTicks: string
  readonly stateDir: string
  readonly port: number
  readonly startedAt: string
  /** Where the plugin serves the task's capability API; kept across plugin restarts. */
  readonly capabilityPort?: number
  /** The task's own cgroup, which enforces its reserved memory and CPU (absent for tasks started outside Nomad). */
  readonly cgroup?: TaskCgroup
}

/** How to start one task's process. */
export interface Launch {
  readonly taskId: string
  readonly stateDir: string
  readonly port: number
  readonly command: string
  readonly args: readonly string[]
  /** A failed fetch of a remote component is worth retrying (Nomad restarts the task). */
  readonly remoteComponent: boolean
  readonly capabilityPort?: number
  readonly what: string
  /** The cgroup the process joins before it execs. */
  readonly cgroup?: TaskCgroup
  /** Variables beyond PATH and NODE_ENV. */
  readonly env?: Readonly<Record<string, string>>
}

const START_TIMEOUT_MS = 5 * 60_000 // fetching and compiling a large component takes a while

export class TaskHandle implements RunningTask {
  readonly id: string
  readonly state: DriverState
  #exit?: ExitReport
  #settling = false
  #exitWaiters: Array<(r: ExitReport) => void> = []

  private constructor(id: string, state: DriverState) {
    this.id = id
    this.state = state
    void this.#watch()
  }

  /** Clears what an earlier attempt of the task left in its state dir. */
  static async prepareStateDir(stateDir: string): Promise<void> {
    // Owner-only: the state dir holds the task's capability token and backend credentials.
    await mkdir(stateDir, { recursive: true, mode: 0o700 })
    await chmod(stateDir, 0o700)
    for (const name of ['ready.json', 'exit.json'] as const) await rm(stateFile(stateDir, name), { force: true })
    await rm(eventsFile(stateDir), { force: true })
  }

  static async start(launch: Launch, stdoutPath: string, stderrPath: string): Promise<{ handle: TaskHandle; ready: ReadyReport }> {
    // The task's process holds the write ends of Nomad's log FIFOs for the task's whole
    // life; we only pass them on. Opening a FIFO waits for its reader (logmon).
    const out = await open(stdoutPath, 'w')
    const err = stderrPath === stdoutPath ? out : await open(stderrPath, 'w')
    let child
    const { command, args } = launch.cgroup ? joinCommand(launch.cgroup, launch.command, launch.args) : { command: launch.command, args: [...launch.args] }
    try {
      child = spawn(command, args, {
        detached: true, // own session: survives the plugin and Nomad's client
        stdio: ['ignore', out.fd, err.fd],
        cwd: launch.stateDir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', ...launch.env },
      })
      await new Promise<void>((resolve, reject) => {
        child!.once('spawn', resolve)
        child!.once('error', reject)
      })
    } finally {
      await out.close()
      if (err !== out) await err.close()
    }
    child.unref()
    const pid = child.pid!
    const startTicks = (await processStartTicks(pid)) ?? ''
    const handle = new TaskHandle(launch.taskId, {
      version: 1,
      pid,
      startTicks,
      stateDir: launch.stateDir,
      port: launch.port,
      startedAt: new Date().toISOString(),
      ...(launch.capabilityPort !== undefined && { capabilityPort: launch.capabilityPort }),
      ...(launch.cgroup && { cgroup: launch.cgroup }),
    })
    child.once('exit', (code, signal) => void handle.#settle({ code, signal, what: launch.what }))

    const ready = await Promise.race([
      handle.#waitReady(),
      handle.waitExit().then((exit): never => {
        throw new DriverError((exit.code as DriverErrorCode) ?? 'LEAN_ERR_DRIVER_RUNNER_START', exit.error ?? `${launch.what} exited with code ${exit.exitCode} before serving`, {
          recoverable: exit.code === 'LEAN_ERR_COMPONENT_FETCH' && launch.remoteComponent,
        })
      }),
    ])
    return { handle, ready }
  }

  /** Re-attaches to a task's process from a persisted driver state. */
  static async recover(id: string, state: DriverState): Promise<TaskHandle> {
    if (state?.version !== 1 || !state.pid || !state.stateDir) {
      throw new DriverError('LEAN_ERR_DRIVER_RECOVER', `task ${id}: driver state is missing or of an unknown version`)
    }
    const ticks = await processStartTicks(state.pid)
    const exited = await readJson<ExitReport>(stateFile(state.stateDir, 'exit.json'))
    if (ticks !== state.startTicks && !exited) {
      throw new DriverError('LEAN_ERR_DRIVER_RECOVER', `task ${id}: its process (pid ${state.pid}) is gone and left no exit report`)
    }
    return new TaskHandle(id, state)
  }

  get exited(): ExitReport | undefined {
    return this.#exit
  }

  get pid(): number {
    return this.state.pid
  }

  get startedAt(): string {
    return this.state.startedAt
  }

  attributes(): Record<string, string> {
    return { pid: String(this.state.pid), port: String(this.state.port) }
  }

  async isRunning(): Promise<boolean> {
    return !this.#exit && (await processStartTicks(this.state.pid)) === this.state.startTicks
  }

  waitExit(): Promise<ExitReport> {
    if (this.#exit) return Promise.resolve(this.#exit)
    return new Promise((resolve) => this.#exitWaiters.push(resolve))
  }

  /**
   * Calls `deliver` for each event the runner records from now on, until the
   * task ends. After a recover, events recorded before it are not repeated.
   */
  async forwardEvents(deliver: (event: RunnerEvent) => void, fromStart: boolean): Promise<void> {
    let offset = fromStart ? 0 : await stat(eventsFile(this.state.stateDir)).then((s) => s.size, () => 0)
    while (!this.#exit) {
      await delay(250)
      const read = await readEventsSince(this.state.stateDir, offset)
      offset = read.offset
      for (const event of read.events) deliver(event)
    }
  }

  /** Sends `signal`, waits up to timeoutMs, then kills the runner. Idempotent. */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    if (!(await this.isRunning())) return
    this.#signal(signal)
    const stopped = await Promise.race([this.waitExit().then(() => true), delay(timeoutMs).then(() => false)])
    if (!stopped) {
      this.#signal('SIGKILL')
      await this.waitExit()
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.#signal(signal)
  }

  /** Kills the process tree if it still runs (its cgroup goes when it exits). */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL', 1000)
  }

  #signal(signal: NodeJS.Signals): void {
    try {
      // Negative pid: the runner's whole session (it leads its own group).
      process.kill(-this.state.pid, signal)
    } catch {
      try {
        process.kill(this.state.pid, signal)
      } catch {
        // already gone
      }
    }
  }

  async #waitReady(): Promise<ReadyReport> {
    const deadline = Date.now() + START_TIMEOUT_MS
    while (Date.now() < deadline) {
      const ready = await readJson<ReadyReport>(stateFile(this.state.stateDir, 'ready.json'))
      if (ready) return ready
      if (this.#exit) break
      await delay(5)
    }
    if (!this.#exit) this.#signal('SIGKILL')
    return new Promise<never>(() => {}) // the exit branch of the race reports the failure
  }

  /** Polls for the runner's end when it is not our child (after a recover). */
  async #watch(): Promise<void> {
    while (!this.#exit) {
      if ((await processStartTicks(this.state.pid)) !== this.state.startTicks) {
        await this.#settle()
        return
      }
      await delay(250)
    }
  }

  /** `seen`: how our child ended, when it is our child (not after a recover). */
  async #settle(seen?: { code: number | null; signal: NodeJS.Signals | null; what: string }): Promise<void> {
    if (this.#exit || this.#settling) return
    this.#settling = true
    const signal = seen?.signal ? (osConstants.signals[seen.signal] ?? 9) : undefined
    const report = (await readJson<ExitReport>(stateFile(this.state.stateDir, 'exit.json'))) ??
      (seen && signal === undefined
        ? { exitCode: seen.code ?? 1, signal: 0, oomKilled: false, error: `${seen.what} exited with code ${seen.code} without an exit report` }
        : {
            exitCode: 128 + (signal ?? 9),
            signal: signal ?? 9,
            oomKilled: false,
            error: seen ? `${seen.what} was killed by ${seen.signal}` : 'the task process ended without an exit report (killed)',
          })
    this.#exit = await this.#withMemoryVerdict(report)
    if (this.state.cgroup) await removeTaskCgroup(this.state.cgroup)
    for (const waiter of this.#exitWaiters.splice(0)) waiter(this.#exit)
  }

  /** A process the kernel killed for its cgroup's memory ended out of memory, which Nomad shows as such. */
  async #withMemoryVerdict(report: ExitReport): Promise<ExitReport> {
    const cgroup = this.state.cgroup
    if (!cgroup || report.signal !== 9 || (await oomKills(cgroup)) === 0) return report
    return {
      ...report,
      oomKilled: true,
      code: 'LEAN_ERR_TASK_MEMORY',
      error: 'the task used all of its reserved memory (resources.memory) and the kernel stopped it',
    }
  }
}
