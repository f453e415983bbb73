import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { listMigrations } from '../../../infra/cloud/migrate.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

test('the shipped migrations are numbered and ordered', async () => {
  const migrations = await listMigrations(path.join(repo, 'infra/postgres/migrations'))
  assert.equal(migrations[0]?.version, '001')
  assert.equal(migrations[0]?.name, 'request_logs')
  const versions = migrations.map((m) => m.version)
  assert.deepEqual(versions, [...versions].sort())
})

test('a badly named migration file is refused with its name', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mig-'))
  await writeFile(path.join(dir, 'add-table.sql'), 'SELECT 1')
  await assert.rejects(listMigrations(dir), /'add-table\.sql' must look like 001_some_name\.sql/)
})
