// Calls to a granted service that must not be lost: the runner tries once
// at once and reports that attempt; if the service is unreachable or fails
// (the email worker is down, say), it keeps retrying with backoff while the
// component answers its own client. When the call finally succeeds or is
// given up, the task's request_logs row (if named) says so.
//
// Entries live in the runner's memory: they survive the component's
// instances, not the task. The row stays `email_pending` if the task ends
// first, so nothing is lost silently.
import pRetry, { AbortError } from 'p-retry'
import type { Logger } from 'pino'
import type { ServiceRequest, ServiceResponse } from './service-call.ts'

export interface OutboxEntry {
  readonly service: string
  readonly request: ServiceRequest
  /** request_logs row to update when the call settles. */
  readonly requestId?: string
  /** Row status once delivered, e.g. `emailed`. */
  readonly deliveredStatus?: string
}

export interface OutboxOptions {
  readonly retries: number
  readonly minTimeoutMs: number
  readonly maxTimeoutMs: number
}

export const defaultOutboxOptions: OutboxOptions = { retries: 20, minTimeoutMs: 1000, maxTimeoutMs: 15_000 }

export type FirstAttempt = { delivered: true; response: ServiceResponse } | { delivered: false; final: boolean; reason: string }

export type Settle = (entry: OutboxEntry, outcome: { delivered: true } | { delivered: false; reason: string }) => Promise<void>

export class Outbox {
  readonly #pending = new Set<OutboxEntry>()
  readonly #abort = new AbortController()

  constructor(
    private readonly call: (service: string, request: ServiceRequest) => Promise<ServiceResponse>,
    private readonly settle: Settle,
    private readonly log: Logger,
    private readonly options: OutboxOptions = defaultOutboxOptions,
  ) {}

  get size(): number {
    return this.#pending.size
  }

  /**
   * Makes the first attempt now and reports it; a failed first attempt keeps
   * being retried in the background. A 4xx answer is final: the request
   * itself is wrong and repeating it cannot help.
   */
  async submit(entry: OutboxEntry): Promise<FirstAttempt> {
    try {
      const response = await this.#attempt(entry)
      await this.settle(entry, { delivered: true })
      return { delivered: true, response }
    } catch (err) {
      const reason = (err as Error).message
      if (err instanceof AbortError) {
        await this.settle(entry, { delivered: false, reason: `${entry.service} refused: ${reason}` })
        return { delivered: false, final: true, reason }
      }
      this.#retryLater(entry)
      return { delivered: false, final: false, reason }
    }
  }

  async #attempt(entry: OutboxEntry): Promise<ServiceResponse> {
    const res = await this.call(entry.service, entry.request)
    if (res.status < 400) return res
    const reason = `${entry.service} answered ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`
    throw res.status < 500 ? new AbortError(reason) : new Error(reason)
  }

  #retryLater(entry: OutboxEntry): void {
    this.#pending.add(entry)
    const signal = this.#abort.signal
    const firstDelay = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.minTimeoutMs)
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
    })
    firstDelay
      .then(() =>
        pRetry(() => this.#attempt(entry), {
          retries: this.options.retries,
          minTimeout: this.options.minTimeoutMs,
          maxTimeout: this.options.maxTimeoutMs,
          factor: 2,
          signal,
          onFailedAttempt: (err) => {
            this.log.warn({ service: entry.service, requestId: entry.requestId, attempt: err.attemptNumber + 1, retriesLeft: err.retriesLeft, err: err.message }, 'deferred call failed')
          },
        }),
      )
      .then(
        () => this.settle(entry, { delivered: true }),
        (err: Error) => {
          if (signal.aborted) return undefined
          return this.settle(entry, { delivered: false, reason: `${entry.service} call given up: ${err.message}` })
        },
      )
      .catch((err: Error) => this.log.error({ requestId: entry.requestId, err: err.message }, 'could not record the outcome of a deferred call'))
      .finally(() => this.#pending.delete(entry))
  }

  /** Stops retrying; what is still pending stays recorded as pending. */
  close(): void {
    if (this.#pending.size > 0) {
      this.log.warn({ pending: [...this.#pending].map((e) => e.requestId ?? e.service) }, 'task stopping with deferred calls still pending')
    }
    this.#abort.abort()
  }
}
