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
    `INSERT INTO request_logs (app, request_id, client_ip, request_text, pdf_object_key, status)
     VALUES ('pdf', $1, $2, $3, $4, 'stored')`,
    [requestId, '127.0.0.1', 'Привет, мир', 'pdfs/abc.pdf'],
  )
  const { rows } = await client.query('SELECT * FROM request_logs WHERE request_id = $1', [requestId])
  assert.equal(rows.length, 1)
  assert.equal(rows[0].request_text, 'Привет, мир')
  assert.equal(rows[0].client_ip, '127.0.0.1')
  assert.equal(rows[0].pdf_object_key, 'pdfs/abc.pdf')
  assert.ok(rows[0].created_at instanceof Date)

  await assert.rejects(
    client.query(`INSERT INTO request_logs (app, request_id, request_text, status) VALUES ('pdf', $1, 'x', 'bogus')`, [`${requestId}-bad`]),
    /check constraint/,
  )
})

test("the services' writer role inserts and updates its rows and can do nothing else", async (t) => {
  const { env } = await useCloud()
  const writer = new pg.Client({ connectionString: env.DATABASE_WRITER_URL })
  await writer.connect()
  const requestId = uniqueName('req')
  t.after(async () => {
    await writer.end()
    const owner = new pg.Client({ connectionString: env.DATABASE_URL })
    await owner.connect()
    await owner.query('DELETE FROM request_logs WHERE request_id = $1', [requestId])
    await owner.end()
  })
  assert.equal((await writer.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u, 'lean_writer')
  // As an app, as the services write (task-driver/capabilities/as-app.ts).
  await writer.query('BEGIN')
  await writer.query(`SELECT set_config('lean.app', 'pdf', true)`)
  await writer.query(`INSERT INTO request_logs (app, request_id, request_text, status) VALUES ('pdf', $1, 'x', 'email_pending')`, [requestId])
  assert.equal((await writer.query(`UPDATE request_logs SET status = 'emailed' WHERE request_id = $1`, [requestId])).rowCount, 1)
  await writer.query('COMMIT')
  const denied = /permission denied/
  await assert.rejects(writer.query('DELETE FROM request_logs WHERE request_id = $1', [requestId]), denied)
  await assert.rejects(writer.query('TRUNCATE request_logs'), denied)
  await assert.rejects(writer.query('DROP TABLE outbox'), /must be owner/)
  await assert.rejects(writer.query('SELECT * FROM schema_migrations'), denied)
  await assert.rejects(writer.query('CREATE TABLE intruder (x int)'), denied)
  await assert.rejects(writer.query('CREATE ROLE intruder'), denied)
})
