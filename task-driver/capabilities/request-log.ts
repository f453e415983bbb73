// The request_logs table as both hosts write it: the runner's capability API
// and the plain Node twins. One place for the SQL (the outbox settles rows in
// outbox-store.ts, in the statement that marks its own). A row is the app's
// whose task wrote it (as-app.ts).
import type { AppDatabase } from './as-app.ts'

export interface RequestLogInsert {
  readonly request_id: unknown
  readonly client_ip?: unknown
  readonly request_text: unknown
  readonly pdf_object_key?: unknown
  readonly status: unknown
  readonly error?: unknown
}

/** Inserts one row of `db`'s app and answers its id. */
export async function insertRequestLog(db: AppDatabase, row: RequestLogInsert): Promise<number> {
  const result = await db.query<{ id: string }>(
    `INSERT INTO request_logs (app, request_id, client_ip, request_text, pdf_object_key, status, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [db.app, row.request_id, row.client_ip ?? null, row.request_text, row.pdf_object_key ?? null, row.status, row.error ?? null],
  )
  return Number(result.rows[0]!.id)
}
