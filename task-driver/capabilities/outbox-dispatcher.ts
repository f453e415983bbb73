// The outbox's delivery loop: one per process (the plugin, which serves the
// capability API of every wasm task on its client) and app, whatever the
// number of tasks and requests. Each capability
// server whose task is granted services adds them to its app's loop while it
// runs; the loop claims due rows of that app to exactly those services, so a
// call is retried wherever a task of its app that may make it is alive (after
// its own task stopped, by the next one), and never by another app's.
import type { Logger } from 'pino'
import { appDatabase } from './as-app.ts'
import { defaultOutboxPolicy, Outbox, type OutboxPolicy, type ServiceCall } from './outbox.ts'
import { pgOutboxStore } from './outbox-store.ts'
import { lazyPool } from './pg-pool.ts'

export class OutboxDispatcher {
  readonly #services = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined
  #pass: Promise<void> | undefined
  #closed = false
  #failing = false

  constructor(
    /** Claims and delivers due rows of these services; answers how many it claimed. */
    private readonly drain: (services: readonly string[]) => Promise<number>,
    private readonly log: Logger,
    private readonly policy: Pick<OutboxPolicy, 'pollMs' | 'batch'> = defaultOutboxPolicy,
  ) {}

  /** The services whose rows this loop delivers now. */
  get services(): string[] {
    return [...this.#services.keys()].sort()
  }

  /** Delivers these services' rows until the returned function is called. */
  serve(services: readonly string[]): () => void {
    const added = [...new Set(services)]
    for (const s of added) this.#services.set(s, (this.#services.get(s) ?? 0) + 1)
    // Not at once: a task that starts has better things to do than load `pg`.
    this.#schedule(this.policy.pollMs)
    let released = false
    return () => {
      if (released) return
      released = true
      for (const s of added) {
        const n = (this.#services.get(s) ?? 1) - 1
        if (n > 0) this.#services.set(s, n)
        else this.#services.delete(s)
      }
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#timer || this.#pass || this.#services.size === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#pass = this.#run().then((full) => {
        this.#pass = undefined
        this.#schedule(full ? 0 : this.policy.pollMs)
      })
    }, delayMs)
    // The loop never keeps a process alive on its own.
    this.#timer.unref()
  }

  /** One pass; true when it claimed a full batch (more may be due). */
  async #run(): Promise<boolean> {
    const services = this.services
    if (services.length === 0) return false
    try {
      const claimed = await this.drain(services)
      if (this.#failing) this.log.info('outbox reachable again')
      this.#failing = false
      return claimed >= this.policy.batch
    } catch (err) {
      // Said once per outage, not once per poll.
      if (!this.#failing) this.log.warn({ err: (err as Error).message }, 'outbox unreachable; delivery loop keeps polling')
      this.#failing = true
      return false
    }
  }

  /** Stops polling and waits (up to `waitMs`) for the pass under way; claims it leaves run out with their lease. */
  async close(waitMs = 2000): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#pass) await Promise.race([this.#pass, new Promise((resolve) => setTimeout(resolve, waitMs).unref())])
  }
}

export interface OutboxBackends {
  readonly databaseUrl: string
  readonly consulDns: string
}

export interface OutboxLease {
  readonly outbox: Outbox
  /** Stops delivering the services this lease added; the last lease of a process closes the loop and its pool. */
  release(): Promise<void>
}

interface Shared {
  readonly outbox: Outbox
  readonly dispatcher: OutboxDispatcher
  users: number
  close(): Promise<void>
}

const shared = new Map<string, Shared>()

/**
 * The process's outbox and delivery loop of `app` for these backends (created
 * on first use), delivering that app's calls to `services` until the lease is
 * released. `call`, `log` (give the process's, not a task's) and `policy`
 * count only for the lease that creates them.
 */
export function acquireOutbox(
  backends: OutboxBackends,
  app: string,
  services: readonly string[],
  call: ServiceCall,
  log: Logger,
  policy: OutboxPolicy = defaultOutboxPolicy,
): OutboxLease {
  const key = `${backends.databaseUrl}\n${backends.consulDns}\n${app}`
  let entry = shared.get(key)
  if (!entry) {
    const pool = lazyPool(backends.databaseUrl, log)
    const outbox = new Outbox(pgOutboxStore(appDatabase(pool, app)), call, log.child({ app }), policy)
    const dispatcher = new OutboxDispatcher((s) => outbox.drain(s), log.child({ app, outbox_claimer: outbox.claimer }), policy)
    const created: Shared = {
      outbox,
      dispatcher,
      users: 0,
      async close() {
        await dispatcher.close()
        await pool.end()
      },
    }
    shared.set(key, created)
    entry = created
  }
  const current = entry
  current.users += 1
  const stop = current.dispatcher.serve(services)
  let released = false
  return {
    outbox: current.outbox,
    async release() {
      if (released) return
      released = true
      stop()
      current.users -= 1
      if (current.users === 0 && shared.get(key) === current) {
        shared.delete(key)
        await current.close()
      }
    },
  }
}
