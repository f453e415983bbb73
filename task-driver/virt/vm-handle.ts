// One running VM, seen from the plugin: its QEMU process (a child of
// libvirtd, never of the plugin, so it outlives plugin and agent restarts),
// watched through /proc; its serial console copied into the task's stdout;
// stop (power button, then destroy after the grace period) and the removal of
// everything the task had on disk.
import { open, rm, stat } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { processStartTicks } from '../../ground/proc-stats.ts'
import type { RunningTask } from '../kit/driver.ts'
import { type PortForward } from './domain-xml.ts'
import { destroyDomain, domainState, shutdownDomain } from './domain.ts'
import type { EgressGrant } from './egress.ts'
import { VirtError } from './errors.ts'

/** What Nomad keeps for us in TaskHandle.driver_state (JSON, versioned). */
export interface VmState {
  readonly version: 1
  readonly uri: string
  readonly domain: string
  /** The task's own files: overlay, seed, console log, domain XML. Removed by DestroyTask. */
  readonly dir: string
  readonly consoleLog: string
  readonly pid: number
  readonly startTicks: string
  readonly startedAt: string
  readonly accelerator: 'kvm' | 'tcg'
  /** The task's forwards; those with an innerPort go through a relay of the plugin (port-relays.ts). */
  readonly ports: readonly PortForward[]
  /** Granted services: their guest addresses and the loopback ports QEMU dials (egress.ts); absent: none. */
  readonly egress?: readonly EgressGrant[]
}

export interface VmExit {
  readonly exitCode: number
  readonly signal: number
  readonly error?: string
}

const WATCH_INTERVAL_MS = 1000
const CONSOLE_INTERVAL_MS = 500

export class VmHandle implements RunningTask {
  readonly id: string
  readonly state: VmState
  #exit?: VmExit
  #waiters: Array<(e: VmExit) => void> = []
  #stopping = false
  #held: Array<{ close(): void }> = []

  constructor(id: string, state: VmState, exited?: VmExit) {
    this.id = id
    this.state = state
    if (exited) this.#exit = exited
    else void this.#watch()
  }

  get exited(): VmExit | undefined {
    return this.#exit
  }

  get pid(): number {
    return this.state.pid
  }

  get startedAt(): string {
    return this.state.startedAt
  }

  attributes(): Record<string, string> {
    return { domain: this.state.domain, pid: String(this.state.pid), accelerator: this.state.accelerator }
  }

  /** Closes `resource` (the task's egress proxies, its port relays) when the VM ends: nothing of it outlives the guest. */
  holdUntilExit(resource: { close(): void }): void {
    this.#held.push(resource)
    void this.waitExit().then(() => this.#release())
  }

  #release(): void {
    for (const r of this.#held.splice(0)) r.close()
  }

  waitExit(): Promise<VmExit> {
    return this.#exit ? Promise.resolve(this.#exit) : new Promise((resolve) => this.#waiters.push(resolve))
  }

  async isRunning(): Promise<boolean> {
    return !this.#exit && (await processStartTicks(this.state.pid)) === this.state.startTicks
  }

  /** Marks the VM ended (a failed start, or what a recover found). */
  settle(exit: VmExit): void {
    if (this.#exit) return
    this.#exit = exit
    for (const w of this.#waiters.splice(0)) w(exit)
  }

  async #watch(): Promise<void> {
    while (!this.#exit) {
      if ((await processStartTicks(this.state.pid)) !== this.state.startTicks) {
        // Let the console copier take the last lines first.
        await delay(CONSOLE_INTERVAL_MS * 2)
        this.settle(
          this.#stopping
            ? { exitCode: 0, signal: 0 }
            : {
                exitCode: 1,
                signal: 0,
                error: `the VM ${this.state.domain} stopped: its QEMU process (pid ${this.state.pid}) ended (guest power-off, crash or kill)`,
              },
        )
        return
      }
      await delay(WATCH_INTERVAL_MS)
    }
  }

  /**
   * Copies the serial console into Nomad's stdout FIFO for the task, from
   * `fromStart` the beginning (a new task) or the current end (after a
   * recover: those lines were copied by the plugin before).
   */
  async forwardConsole(stdoutPath: string, fromStart: boolean): Promise<void> {
    let offset = fromStart
      ? 0
      : await stat(this.state.consoleLog).then(
          (s) => s.size,
          () => 0,
        )
    // Opening a FIFO waits for its reader (Nomad's logmon), which is there before a start.
    const out = await open(stdoutPath, 'w')
    const buf = Buffer.alloc(64 * 1024)
    try {
      for (;;) {
        const ended = this.#exit !== undefined
        const fh = await open(this.state.consoleLog, 'r').catch(() => undefined)
        if (fh) {
          try {
            for (;;) {
              const { bytesRead } = await fh.read(buf, 0, buf.length, offset)
              if (bytesRead === 0) break
              offset += bytesRead
              await out.write(buf.subarray(0, bytesRead))
            }
          } finally {
            await fh.close()
          }
        }
        if (ended) return
        await delay(CONSOLE_INTERVAL_MS)
      }
    } catch {
      // The FIFO's reader went away (the alloc is being torn down): nothing more to copy.
    } finally {
      await out.close().catch(() => {})
    }
  }

  /**
   * Presses the power button, waits up to timeoutMs for the guest to power
   * off, then destroys it. Idempotent. A VM takes no signals: `_signal` is
   * what Nomad asked for, and the power button is what a guest understands.
   */
  async stop(_signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    if (!(await this.isRunning())) return
    this.#stopping = true
    await shutdownDomain(this.state.uri, this.state.domain).catch((err: unknown) => {
      if (!(err instanceof VirtError && err.code === 'LEAN_ERR_VIRT_NO_DOMAIN')) throw err
    })
    const off = await Promise.race([this.waitExit().then(() => true), delay(timeoutMs).then(() => false)])
    if (!off) {
      await destroyDomain(this.state.uri, this.state.domain)
      await this.waitExit()
    }
  }

  /** Powers the VM off at once (no grace). */
  async kill(): Promise<void> {
    this.#stopping = true
    await destroyDomain(this.state.uri, this.state.domain)
  }

  /** Powers the VM off if it still runs, and removes everything the task had on disk. */
  async destroy(): Promise<void> {
    if (await this.isRunning()) {
      await this.kill()
      await this.waitExit()
    }
    await this.removeFiles()
    this.#release()
  }

  /** Removes everything the task had on disk. The domain must be gone. */
  async removeFiles(): Promise<void> {
    if ((await domainState(this.state.uri, this.state.domain).catch(() => undefined)) === 'running') {
      throw new VirtError(
        'LEAN_ERR_VIRT_DOMAIN_EXISTS',
        `the VM ${this.state.domain} still runs; its files are kept`,
      )
    }
    await rm(this.state.dir, { recursive: true, force: true })
  }
}
