// Leader election with a Consul session lock, so that of several controllers
// only one acts. The session is tied to the Consul agent's health check of
// this process's /health (and to the node's serfHealth), not to a TTL: a
// killed leader's session is invalidated as soon as the check fails, and an
// idle leader makes no requests beyond one blocking query on the lock key.
// After an invalidation Consul refuses the lock for the lock delay, which
// gives a leader that lost it time to notice; a graceful stop releases the
// lock explicitly, which has no delay.
import type Consul from 'consul'
import type { Logger } from 'pino'
import type { ConsulKv, KvEntry } from './consul-kv.ts'
import { pause } from './pause.ts'
import { CONTROLLER_SERVICE } from '../ground/kv-layout.ts'

export interface ElectionOptions {
  /** The KV key holding the lock. */
  readonly key: string
  /** Consul's lock delay, e.g. `5s`. */
  readonly lockDelay: string
  readonly instanceId: string
  /** Where the Consul agent reaches this process (its /health is the session's check). */
  readonly address: string
  readonly port: number
}

export type Role = 'candidate' | 'follower' | 'leader'

/** The service name every controller registers itself under (its ACL policy grants exactly this one). */
const SERVICE = CONTROLLER_SERVICE
const WAIT = '5m'

export class LeaderElection {
  #role: Role = 'candidate'
  readonly #serviceId: string

  constructor(
    private readonly consul: Consul,
    /** Reads the lock (blocking queries); `consul` does the session and agent calls. */
    private readonly kv: ConsulKv,
    private readonly options: ElectionOptions,
    private readonly log: Logger,
  ) {
    this.#serviceId = `${SERVICE}-${options.instanceId}`
  }

  get role(): Role {
    return this.#role
  }

  /**
   * Campaigns until `signal` aborts. While this instance leads, `lead` runs
   * with a signal that aborts when leadership is lost (or on stop), and is
   * awaited before campaigning again.
   */
  async run(lead: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    let failures = 0
    let session: string | undefined
    while (!signal.aborted) {
      try {
        await this.#register()
        session = await this.#createSession()
        failures = 0
        await this.#campaign(session, lead, signal)
      } catch (err) {
        if (signal.aborted) break
        failures++
        const delay = Math.min(250 * 2 ** failures, 10_000)
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'leader election: Consul request failed; retrying')
        await pause(delay, signal)
      } finally {
        this.#role = 'candidate'
      }
    }
    await this.#resign(session)
  }

  async #register(): Promise<void> {
    await this.consul.agent.service.register({
      name: SERVICE,
      id: this.#serviceId,
      address: this.options.address,
      port: this.options.port,
      meta: { instance: this.options.instanceId },
      check: {
        name: 'controller /health',
        http: `http://${this.options.address}:${this.options.port}/health`,
        interval: '1s',
        timeout: '1s',
        status: 'passing',
        deregistercriticalserviceafter: '1m',
      },
    } as never)
  }

  async #createSession(): Promise<string> {
    const created = (await this.consul.session.create({
      name: this.#serviceId,
      lockdelay: this.options.lockDelay,
      checks: ['serfHealth', `service:${this.#serviceId}`],
      behavior: 'release',
    } as never)) as { ID: string }
    return created.ID
  }

  /** Returns when the session is no longer usable (the lock was lost) or on abort. */
  async #campaign(session: string, lead: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const holder = JSON.stringify({ instance: this.options.instanceId, pid: process.pid, since: new Date().toISOString() })
      // Throws when the session was invalidated; the caller then makes a new one.
      const acquired = (await this.consul.kv.set({ key: this.options.key, value: holder, acquire: session } as never)) as boolean
      if (acquired) {
        await this.#lead(session, lead, signal)
        return
      }
      this.#role = 'follower'
      let { entry, index } = await this.#readLock(0, signal)
      if (!entry?.session) {
        // Free but refused: the lock delay after the last leader's session died is still running.
        await pause(500, signal)
        continue
      }
      // Held by another instance: wait (one open blocking query) until that changes.
      while (!signal.aborted && entry?.session) ({ entry, index } = await this.#readLock(index, signal))
    }
  }

  async #lead(session: string, lead: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    this.#role = 'leader'
    this.log.info({ instance: this.options.instanceId, key: this.options.key }, 'leader election: this instance leads')
    const tenure = new AbortController()
    const stop = () => tenure.abort()
    signal.addEventListener('abort', stop, { once: true })
    const leading = lead(tenure.signal)
    try {
      let index = 0
      let failures = 0
      while (!tenure.signal.aborted) {
        try {
          const { entry, index: next } = await this.#readLock(index, tenure.signal)
          failures = 0
          if (entry?.session !== session) {
            this.log.warn({ holder: entry?.session ?? null }, 'leader election: the lock is no longer ours; stepping down')
            return
          }
          index = next < index ? 0 : next
        } catch (err) {
          if (tenure.signal.aborted) return
          // Consul unreachable: the lock cannot be taken from us without Consul
          // either, so keep leading (Nomad writes are check-and-set anyway).
          failures++
          const delay = Math.min(250 * 2 ** failures, 5_000)
          this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'leader election: cannot watch the lock; still leading')
          await pause(delay, tenure.signal)
        }
      }
    } finally {
      signal.removeEventListener('abort', stop)
      tenure.abort()
      await leading
      this.#role = 'candidate'
    }
  }

  #readLock(index: number, signal: AbortSignal): Promise<{ entry: KvEntry | undefined; index: number }> {
    return this.kv.getWithIndex(this.options.key, { ...(index > 0 && { index, wait: WAIT }), signal })
  }

  /** Best effort on stop: release without a lock delay, then drop the session and the service. */
  async #resign(session: string | undefined): Promise<void> {
    const attempts: Array<Promise<unknown>> = []
    if (session) {
      attempts.push(
        this.consul.kv
          .set({ key: this.options.key, value: '', release: session } as never)
          .then(() => this.consul.session.destroy(session)),
      )
    }
    attempts.push(this.consul.agent.service.deregister(this.#serviceId))
    for (const result of await Promise.allSettled(attempts)) {
      if (result.status === 'rejected') this.log.warn({ err: (result.reason as Error).message }, 'leader election: cleanup on stop failed')
    }
  }
}
