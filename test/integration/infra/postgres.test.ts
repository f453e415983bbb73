import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

test('request_logs accepts and returns a row', async (t) => {
  const { env } = await useCloud()
  const client = new pg.Client({ connectionString: env.DATABASE_URL })
  await client.connect()
  const requestId = uniqueName('req')
  t.after(async () => {
    await client.query('DELETE FROM request_logs WHERE request_id = $1', [requestId])
    await client.end()
  })

  const migrations = await client.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version')
  assert.deepEqual(migrations.rows.map((r) => r.version).slice(0, 1), ['001'])

  await client.query(
    `INSERT INTO request_logs (request_id, client_ip, request_text, pdf_object_key, status)
     VALUES ($1, $2, $3, $4, 'stored')`,
    [requestId, '127.0.0.1', 'Привет, мир', 'pdfs/abc.pdf'],
  )
  const { rows } = await client.query('SELECT * FROM request_logs WHERE request_id = $1', [requestId])
  assert.equal(rows.length, 1)
  assert.equal(rows[0].request_text, 'Привет, мир')
  assert.equal(rows[0].client_ip, '127.0.0.1')
  assert.equal(rows[0].pdf_object_key, 'pdfs/abc.pdf')
  assert.ok(rows[0].created_at instanceof Date)

  await assert.rejects(
    client.query(`INSERT INTO request_logs (request_id, request_text, status) VALUES ($1, 'x', 'bogus')`, [`${requestId}-bad`]),
    /check constraint/,
  )
})
