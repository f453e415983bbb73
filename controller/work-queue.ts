// A keyed work queue in the controller-runtime style: a key waits at most
// once however often it is added (bursts coalesce), is never processed by two
// workers at once (a key added while it runs is run again afterwards), and a
// failing key backs off exponentially on its own without holding up others.
import type { Logger } from 'pino'

export type Result = { readonly done: true } | { readonly retryAfterMs: number }
export const done: Result = { done: true }

export interface WorkQueueOptions {
  readonly workers: number
  readonly baseBackoffMs?: number
  readonly maxBackoffMs?: number
}

export class WorkQueue {
  readonly #waiting: string[] = []
  readonly #queued = new Set<string>()
  readonly #running = new Set<string>()
  readonly #dirty = new Set<string>()
  readonly #failures = new Map<string, number>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  #active = 0
  #stopped = false

  constructor(
    private readonly handle: (key: string) => Promise<Result>,
    private readonly options: WorkQueueOptions,
    private readonly log: Logger,
  ) {}

  add(key: string): void {
    if (this.#stopped) return
    if (this.#running.has(key)) {
      this.#dirty.add(key)
      return
    }
    if (this.#queued.has(key)) return
    this.#queued.add(key)
    this.#waiting.push(key)
    this.#pump()
  }

  /** Adds the key after `ms`; an earlier pending timer for it wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#timers.has(key)) return
    const timer = setTimeout(() => {
      this.#timers.delete(key)
      this.add(key)
    }, ms)
    timer.unref()
    this.#timers.set(key, timer)
  }

  get length(): number {
    return this.#waiting.length
  }

  stop(): void {
    this.#stopped = true
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    this.#waiting.length = 0
    this.#queued.clear()
  }

  #pump(): void {
    while (!this.#stopped && this.#active < this.options.workers && this.#waiting.length > 0) {
      const key = this.#waiting.shift()!
      this.#queued.delete(key)
      this.#running.add(key)
      this.#active++
      void this.#run(key)
    }
  }

  async #run(key: string): Promise<void> {
    try {
      const result = await this.handle(key)
      this.#failures.delete(key)
      if ('retryAfterMs' in result) this.addAfter(key, result.retryAfterMs)
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1
      this.#failures.set(key, failures)
      const delay = Math.min((this.options.baseBackoffMs ?? 250) * 2 ** (failures - 1), this.options.maxBackoffMs ?? 30_000)
      const kvIndex = (err as { kvIndex?: number | null }).kvIndex ?? null
      this.log.warn({ app: key, kvIndex, err: (err as Error).message, failures, retryInMs: delay }, 'reconcile failed')
      this.addAfter(key, delay)
    } finally {
      this.#running.delete(key)
      this.#active--
      if (this.#dirty.delete(key)) this.add(key)
      this.#pump()
    }
  }
}
