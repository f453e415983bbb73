// A PostgreSQL pool that loads `pg` and connects on its first query: a task
// that never touches the database never pays for the client (the node
// engine's runner waits for its imports before it serves).
import type { Logger } from 'pino'
import type { ConnectingPool, PooledClient } from './as-app.ts'

/** Lends connections only: statements go through asApp (as-app.ts), which names the task's app. */
export interface LazyPool extends ConnectingPool {
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
    async connect() {
      if (ended) throw new Error('the database pool is closed')
      return (await open()).connect() as Promise<PooledClient>
    },
    async end() {
      ended = true
      if (pool) await (await pool).end()
    },
  }
}
