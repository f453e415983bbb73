// A PostgreSQL pool that loads `pg` and connects on its first query: a task
// that never touches the database never pays for the client (the node
// engine's runner waits for its imports before it serves).
import type { Logger } from 'pino'
import type { Queryable } from './request-log.ts'

export interface LazyPool extends Queryable {
  end(): Promise<void>
}

export function lazyPool(databaseUrl: string, log: Logger, max = 4): LazyPool {
  let pool: Promise<import('pg').Pool> | undefined
  let ended = false
  const open = () =>
    (pool ??= import('pg').then(({ default: pg }) => {
      const p = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5000 })
      p.on('error', (err) => log.warn({ err: err.message }, 'idle database connection failed'))
      return p
    }))
  return {
    async query<R extends object>(text: string, values?: unknown[]) {
      if (ended) throw new Error('the database pool is closed')
      return (await open()).query(text, values) as unknown as Promise<{ rows: R[] }>
    },
    async end() {
      ended = true
      if (pool) await (await pool).end()
    },
  }
}
