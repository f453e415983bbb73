// Calls to a granted service that must not be lost (the PDF service asking
// the email worker to send a PDF). The call is written to PostgreSQL's outbox
// table, claimed by this process, and tried at once; that first attempt is
// what the component hears (delivered, queued, or refused). A call that is
// not delivered stays in the table, and the delivery loop of any process
// serving a task granted that service (outbox-dispatcher.ts) tries it again
// with exponential backoff, up to an attempt limit. When it settles, its
// request_logs row (if named) says `emailed` (or the status asked for) or
// `failed` with the reason.
//
// Delivery is deliver-then-mark under a lease: at least once from the
// outbox's side. A claimer that dies after the service acted and before the
// mark leaves the row to be delivered again, so each call carries an
// `idempotency-key` header (the request id) and the mail capability sends
// one message per key (mail-once.ts): the PDF is mailed at most once.
import { randomBytes, randomUUID } from 'node:crypto'
import os from 'node:os'
import type { Logger } from 'pino'
import { Refusal } from './capability-refusal.ts'
import type { NewOutboxEntry, OutboxRow, OutboxStore } from './outbox-store.ts'
import type { ServiceRequest, ServiceResponse } from './service-call.ts'

export interface OutboxPolicy {
  /** Attempts in all, the first included; then the call is given up. */
  readonly maxAttempts: number
  /** Delay after the first failed attempt; it doubles (`factor`) up to `maxDelayMs`. */
  readonly minDelayMs: number
  readonly maxDelayMs: number
  readonly factor: number
  /** How long a claim holds a row; longer than a call may take, so a live claimer never loses one. */
  readonly leaseMs: number
  /** Timeout of one call to the service. */
  readonly callTimeoutMs: number
  /** How often a delivery loop looks for due rows, and how many it claims at once. */
  readonly pollMs: number
  readonly batch: number
}

// About an hour of trying (1+2+4+...+32 s, then every minute), so a worker
// that comes back is used within a minute.
export const defaultOutboxPolicy: OutboxPolicy = {
  maxAttempts: 60,
  minDelayMs: 1000,
  maxDelayMs: 60_000,
  factor: 2,
  leaseMs: 60_000,
  callTimeoutMs: 30_000,
  pollMs: 1000,
  batch: 8,
}

/** The delay before the next attempt, after `attempts` attempts failed. */
export function retryDelayMs(attempts: number, policy: Pick<OutboxPolicy, 'minDelayMs' | 'maxDelayMs' | 'factor'>): number {
  return Math.min(policy.maxDelayMs, policy.minDelayMs * policy.factor ** Math.max(0, attempts - 1))
}

export type ServiceCall = (service: string, request: ServiceRequest) => Promise<ServiceResponse>

export type AttemptOutcome =
  | { readonly kind: 'delivered'; readonly response: ServiceResponse }
  /** The service refused the request itself (4xx): repeating it cannot help. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** Unreachable, failing (5xx), or too busy (408, 429): worth another attempt. */
  | { readonly kind: 'failed'; readonly reason: string }

export async function attempt(call: ServiceCall, service: string, request: ServiceRequest): Promise<AttemptOutcome> {
  let res: ServiceResponse
  try {
    res = await call(service, request)
  } catch (err) {
    return { kind: 'failed', reason: (err as Error).message }
  }
  if (res.status < 400) return { kind: 'delivered', response: res }
  const reason = `${service} answered ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`
  return res.status < 500 && res.status !== 408 && res.status !== 429 ? { kind: 'refused', reason } : { kind: 'failed', reason }
}

export interface OutboxSubmission {
  readonly service: string
  readonly request: { readonly method: string; readonly path: string; readonly contentType: string; readonly body: Buffer }
  readonly requestId?: string
  readonly deliveredStatus?: string
}

export type FirstAttempt =
  | { readonly delivered: true; readonly response: ServiceResponse }
  | { readonly delivered: false; readonly final: boolean; readonly reason: string; readonly outboxId: number }

/** This process's name in claimed_by: host, pid and a nonce (pids are reused). */
export const processClaimer = (): string => `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`

export class Outbox {
  constructor(
    private readonly store: OutboxStore,
    private readonly call: ServiceCall,
    private readonly log: Logger,
    readonly policy: OutboxPolicy = defaultOutboxPolicy,
    readonly claimer: string = processClaimer(),
  ) {}

  /**
   * Writes the call (claimed by this process), makes the first attempt and
   * reports it. A request id already queued for this service is refused (409).
   */
  async submit(submission: OutboxSubmission): Promise<FirstAttempt> {
    const entry: NewOutboxEntry = {
      service: submission.service,
      request: {
        method: submission.request.method,
        path: submission.request.path,
        headers: { 'content-type': submission.request.contentType, 'idempotency-key': submission.requestId ?? randomUUID() },
        body: submission.request.body,
      },
      ...(submission.requestId !== undefined && { requestId: submission.requestId }),
      ...(submission.deliveredStatus !== undefined && { deliveredStatus: submission.deliveredStatus }),
      maxAttempts: this.policy.maxAttempts,
    }
    const row = await this.store.insertClaimed(entry, this.claimer, this.policy.leaseMs)
    if (!row) throw new Refusal(409, `request ${submission.requestId} already has a call to ${submission.service} in the outbox`, 'LEAN_ERR_CAPABILITY_CONFLICT')
    const outcome = await this.deliver(row)
    if (outcome.kind === 'delivered') return { delivered: true, response: outcome.response }
    return { delivered: false, final: outcome.kind === 'refused', reason: outcome.reason, outboxId: row.id }
  }

  /** One attempt at a row this process has claimed, and its settlement. */
  async deliver(row: OutboxRow): Promise<AttemptOutcome> {
    const log = this.log.child({ outbox_id: row.id, service: row.service, request_id: row.requestId, attempt: row.attempts })
    // Its claimer stopped during the last attempt: no attempt is left.
    if (row.attempts > row.maxAttempts) {
      const reason = `${row.service} call given up after ${row.maxAttempts} attempts`
      await this.#settle(log, () => this.store.markFailed(row.id, this.claimer, reason))
      return { kind: 'failed', reason }
    }
    const { method, path, headers, body } = row.request
    const outcome = await attempt(this.call, row.service, { method, path, headers, body, timeoutMs: this.policy.callTimeoutMs })
    if (outcome.kind === 'delivered') {
      log.info('outbox call delivered')
      await this.#settle(log, () => this.store.markDelivered(row.id))
    } else if (outcome.kind === 'refused') {
      log.warn({ err: outcome.reason }, 'outbox call refused by the service; not retried')
      await this.#settle(log, () => this.store.markFailed(row.id, this.claimer, `${row.service} refused: ${outcome.reason}`))
    } else if (row.attempts >= row.maxAttempts) {
      log.warn({ err: outcome.reason }, 'outbox call given up')
      await this.#settle(log, () => this.store.markFailed(row.id, this.claimer, `${row.service} call given up after ${row.attempts} attempts: ${outcome.reason}`))
    } else {
      const delayMs = retryDelayMs(row.attempts, this.policy)
      log.warn({ err: outcome.reason, retry_in_ms: delayMs }, 'outbox call failed; retrying later')
      await this.#settle(log, () => this.store.retryLater(row.id, this.claimer, delayMs, outcome.reason))
    }
    return outcome
  }

  /** Claims due rows of these services and delivers them; answers how many it claimed. */
  async drain(services: readonly string[]): Promise<number> {
    const rows = await this.store.claimDue(services, this.claimer, this.policy.leaseMs, this.policy.batch)
    await Promise.all(rows.map((row) => this.deliver(row)))
    return rows.length
  }

  // A mark that fails (the database just went away) leaves the row claimed:
  // when the lease runs out it is attempted again, and the idempotency key
  // keeps a second delivery from mailing twice.
  async #settle(log: Logger, mark: () => Promise<boolean>): Promise<void> {
    try {
      if (!(await mark())) log.warn('outbox row was settled or claimed by another process meanwhile')
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not record the outcome of an outbox call; it is attempted again when its lease runs out')
    }
  }
}
