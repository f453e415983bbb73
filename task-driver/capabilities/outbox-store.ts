// The outbox table (infra/postgres/migrations/002_outbox.sql): the SQL of
// every step a delivery takes, one statement each, so each step is atomic
// without holding a connection across the service call.
//
// A row is claimed by setting claimed_by/claimed_until (a lease) inside the
// statement that finds it with FOR UPDATE SKIP LOCKED: two claimers never get
// the same row, and a claimer that dies gives its rows back when the lease
// runs out. Marking a row settles its request_logs row in the same statement.
//
// A store is one app's (as-app.ts): it writes, claims and settles that app's
// rows only, and a request id names a request_logs row of the same app.
import type { AppDatabase } from './as-app.ts'

export interface OutboxRequest {
  readonly method: string
  /** Path and query below the service root, without the leading slash. */
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

export interface NewOutboxEntry {
  readonly service: string
  readonly request: OutboxRequest
  /** request_logs row to settle when the call does. */
  readonly requestId?: string
  /** That row's status once delivered, e.g. `emailed`. */
  readonly deliveredStatus?: string
  readonly maxAttempts: number
}

/** A row as its claimer holds it; `attempts` counts the attempt the claim is for. */
export interface OutboxRow extends NewOutboxEntry {
  readonly id: number
  readonly attempts: number
}

export interface OutboxStore {
  /** Inserts the entry claimed by `claimer` for its first attempt; undefined if the request already has one. */
  insertClaimed(entry: NewOutboxEntry, claimer: string, leaseMs: number): Promise<OutboxRow | undefined>
  /** Claims up to `limit` due rows of the store's app to these services, for one more attempt each. */
  claimDue(services: readonly string[], claimer: string, leaseMs: number, limit: number): Promise<OutboxRow[]>
  /** Delivered: whoever holds the claim, a pending row is done. False if it was settled already. */
  markDelivered(id: number): Promise<boolean>
  /** Gives the claim back and makes the row due again after `delayMs`. False if the claim was lost. */
  retryLater(id: number, claimer: string, delayMs: number, error: string): Promise<boolean>
  /** Given up: the row and its request_logs row say `failed` with the reason. False if the claim was lost. */
  markFailed(id: number, claimer: string, reason: string): Promise<boolean>
}

interface Row {
  id: string
  service: string
  method: string
  path: string
  headers: Record<string, string>
  body: Buffer
  request_id: string | null
  delivered_status: string | null
  attempts: number
  max_attempts: number
}

const COLUMNS = 'id::text, service, method, path, headers, body, request_id, delivered_status, attempts, max_attempts'

function fromRow(r: Row): OutboxRow {
  return {
    id: Number(r.id),
    service: r.service,
    request: { method: r.method, path: r.path, headers: r.headers, body: r.body },
    ...(r.request_id !== null && { requestId: r.request_id }),
    ...(r.delivered_status !== null && { deliveredStatus: r.delivered_status }),
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
  }
}

export function pgOutboxStore(db: AppDatabase): OutboxStore {
  const marked = async (text: string, values: unknown[]) => (await db.query<{ marked: number }>(text, values)).rows[0]?.marked === 1
  return {
    async insertClaimed(entry, claimer, leaseMs) {
      const { rows } = await db.query<Row>(
        `INSERT INTO outbox (app, service, method, path, headers, body, request_id, delivered_status, max_attempts, attempts, claimed_by, claimed_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, now() + $11 * interval '1 millisecond')
         ON CONFLICT (app, service, request_id) WHERE request_id IS NOT NULL DO NOTHING
         RETURNING ${COLUMNS}`,
        [db.app, entry.service, entry.request.method, entry.request.path, JSON.stringify(entry.request.headers), entry.request.body,
          entry.requestId ?? null, entry.deliveredStatus ?? null, entry.maxAttempts, claimer, leaseMs],
      )
      return rows[0] && fromRow(rows[0])
    },

    async claimDue(services, claimer, leaseMs, limit) {
      if (services.length === 0) return []
      const { rows } = await db.query<Row>(
        `UPDATE outbox o SET claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond', attempts = o.attempts + 1
         FROM (
           SELECT id FROM outbox
           WHERE app = $5 AND status = 'pending' AND service = ANY($1::text[]) AND next_attempt_at <= now()
             AND (claimed_until IS NULL OR claimed_until < now())
           ORDER BY next_attempt_at, id
           LIMIT $4
           FOR UPDATE SKIP LOCKED
         ) due
         WHERE o.id = due.id
         RETURNING ${COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')}`,
        [services, claimer, leaseMs, limit, db.app],
      )
      return rows.map(fromRow)
    },

    markDelivered: (id) =>
      marked(
        `WITH done AS (
           UPDATE outbox SET status = 'delivered', delivered_at = now(), claimed_by = NULL, claimed_until = NULL, last_error = NULL
           WHERE id = $1 AND app = $2 AND status = 'pending'
           RETURNING app, request_id, delivered_status
         ), settled AS (
           UPDATE request_logs r SET status = coalesce(done.delivered_status, 'stored'), error = NULL
           FROM done WHERE r.app = done.app AND r.request_id = done.request_id
         )
         SELECT count(*)::int AS marked FROM done`,
        [id, db.app],
      ),

    retryLater: (id, claimer, delayMs, error) =>
      marked(
        `WITH done AS (
           UPDATE outbox SET claimed_by = NULL, claimed_until = NULL, next_attempt_at = now() + $3 * interval '1 millisecond', last_error = $4
           WHERE id = $1 AND app = $5 AND status = 'pending' AND claimed_by = $2
           RETURNING id
         )
         SELECT count(*)::int AS marked FROM done`,
        [id, claimer, delayMs, error, db.app],
      ),

    markFailed: (id, claimer, reason) =>
      marked(
        `WITH done AS (
           UPDATE outbox SET status = 'failed', failed_at = now(), claimed_by = NULL, claimed_until = NULL, last_error = $3
           WHERE id = $1 AND app = $4 AND status = 'pending' AND claimed_by = $2
           RETURNING app, request_id
         ), settled AS (
           UPDATE request_logs r SET status = 'failed', error = $3
           FROM done WHERE r.app = done.app AND r.request_id = done.request_id
         )
         SELECT count(*)::int AS marked FROM done`,
        [id, claimer, reason, db.app],
      ),
  }
}
