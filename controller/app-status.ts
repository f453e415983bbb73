// The status document per app, under its own prefix. Written only when it
// changes; the transition time moves only when the phase does.
import type { ConsulKv } from './consul-kv.ts'
import type { AllocationHealth } from './service-health.ts'

/**
 * `running`: at least the desired number of allocations are healthy (their
 * Consul checks all pass). `unhealthy`: the desired number run, but not all
 * pass their checks, past the grace of a starting allocation (service-health.ts). `stopped`: the spec asks for no allocations (a
 * vm with `state: stopped`, or count 0) and none runs.
 */
export type Phase = 'pending' | 'deploying' | 'running' | 'unhealthy' | 'stopped' | 'failed' | 'invalid'

/** The phase and error an app's allocations add up to; `desired` is the count its spec asks for. */
export function phaseOf(desired: number, health: AllocationHealth): { phase: Phase; lastError: string | null } {
  const { running, failed, healthy, failing } = health
  const phase: Phase =
    desired === 0 ? (running === 0 ? 'stopped' : 'deploying')
    : healthy >= desired ? 'running'
    : failed > 0 && running === 0 ? 'failed'
    : running >= desired && failing.length > 0 ? 'unhealthy'
    : 'deploying'
  const lastError =
    phase === 'failed' ? `${failed} allocation(s) failed`
    : phase !== 'running' && failing.length > 0 ? `${failing.length} running allocation(s) fail their Consul checks; ${failing[0]}`
    : null
  return { phase, lastError }
}

export interface AppStatus {
  readonly name: string
  /** ModifyIndex of the spec this status describes. */
  readonly observedIndex: number
  readonly phase: Phase
  readonly healthy: number
  readonly desired: number
  readonly jobVersion: number | null
  readonly lastError: string | null
  readonly lastTransitionTime: string
}

export class StatusWriter {
  /** What this writer last wrote or read of each app: the leader is the only writer, so a write needs no read first. */
  readonly #last = new Map<string, AppStatus | undefined>()
  #primed = false

  constructor(
    private readonly kv: Pick<ConsulKv, 'get' | 'set' | 'delete'>,
    private readonly prefix: string,
    /** Told each app's phase as it is written, and `undefined` when its status goes (for metrics). */
    private readonly onPhase: (name: string, phase: Phase | undefined) => void = () => {},
  ) {}

  async read(name: string): Promise<AppStatus | undefined> {
    const entry = await this.kv.get(this.prefix + name)
    if (!entry) return undefined
    try {
      return JSON.parse(entry.value) as AppStatus
    } catch {
      return undefined
    }
  }

  /**
   * Takes a whole listing of the status prefix (the sweep at the start of a
   * tenure): from then on an app not seen in it or written since has no
   * status, and its first write needs no read.
   */
  prime(statuses: ReadonlyMap<string, string>): void {
    for (const [name, value] of statuses) {
      if (this.#last.has(name)) continue
      try {
        this.#last.set(name, JSON.parse(value) as AppStatus)
      } catch {
        this.#last.set(name, undefined)
      }
    }
    this.#primed = true
  }

  async write(next: Omit<AppStatus, 'lastTransitionTime'>): Promise<AppStatus> {
    const previous = this.#last.has(next.name) || this.#primed ? this.#last.get(next.name) : await this.read(next.name)
    const lastTransitionTime = previous && previous.phase === next.phase ? previous.lastTransitionTime : new Date().toISOString()
    const status: AppStatus = { ...next, lastTransitionTime }
    if (JSON.stringify(previous) !== JSON.stringify(status)) {
      // Forget first: if the write fails, the next one reads what is really there.
      this.#last.delete(next.name)
      await this.kv.set(this.prefix + next.name, JSON.stringify(status))
    }
    this.#last.set(next.name, status)
    this.onPhase(next.name, next.phase)
    return status
  }

  async remove(name: string): Promise<void> {
    this.#last.delete(name)
    await this.kv.delete(this.prefix + name)
    this.#last.set(name, undefined)
    this.onPhase(name, undefined)
  }
}
