// The platform's tables (request_logs, outbox, mail_sends) as one app sees
// them. Row-level security lets lean_writer reach only the rows whose `app`
// is the transaction's `lean.app` (infra/postgres/migrations/004_rows_per_app.sql),
// so every statement runs in a transaction that names the task's app first.
// A statement made without it reaches no row.

/** The slice of a pg Pool or Client used here. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>
}

/** A connection lent by a pool, as pg's Pool.connect() answers it. */
export interface PooledClient extends Queryable {
  /** An error (or true) destroys the connection instead of returning it. */
  release(err?: Error | boolean): void
}

export interface ConnectingPool {
  connect(): Promise<PooledClient>
}

/** Runs `fn` in one transaction as `app`: it sees, inserts and updates that app's rows only. */
export async function asApp<T>(
  pool: ConnectingPool,
  app: string,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    // `true`: local to this transaction, so the pooled connection names no app afterwards.
    await client.query(`SELECT set_config('lean.app', $1, true)`, [app])
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => {
      broken = e
    })
    throw err
  } finally {
    client.release(broken)
  }
}

/** One app's view of the tables: each query is a transaction of its own as `app` (asApp). */
export interface AppDatabase extends Queryable {
  readonly app: string
}

export function appDatabase(pool: ConnectingPool, app: string): AppDatabase {
  return {
    app,
    query: <R extends object>(text: string, values?: unknown[]) =>
      asApp(pool, app, (db) => db.query<R>(text, values)),
  }
}
