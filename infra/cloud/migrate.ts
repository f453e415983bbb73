// Versioned SQL migrations: infra/postgres/migrations/NNN_name.sql, applied in
// order, each in its own transaction, recorded in schema_migrations. An
// advisory lock keeps two migrators from racing.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type pg from 'pg'

const MIGRATION_LOCK = 0x1ea7c10d // arbitrary, fixed: the advisory lock id

export interface Migration {
  readonly version: string
  readonly name: string
  readonly file: string
}

export async function listMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
  return files.map((file) => {
    const match = /^(\d{3,})_([a-z0-9_]+)\.sql$/.exec(file)
    if (!match) throw new Error(`migration file name '${file}' must look like 001_some_name.sql`)
    return { version: match[1]!, name: match[2]!, file: path.join(dir, file) }
  })
}

/** Applies pending migrations; returns the versions applied by this call. */
export async function migrate(client: pg.Client, dir: string): Promise<string[]> {
  const applied: string[] = []
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const done = new Set((await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version))
    for (const m of await listMigrations(dir)) {
      if (done.has(m.version)) continue
      const sql = await readFile(m.file, 'utf8')
      await client.query('BEGIN')
      try {
        await client.query(sql)
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw new Error(`migration ${path.basename(m.file)} failed: ${(err as Error).message}`, { cause: err })
      }
      applied.push(m.version)
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
  }
  return applied
}
