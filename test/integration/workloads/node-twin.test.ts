// The same handlers as plain Node services (fastify), against the real cloud:
// the baseline of bench:workloads must do the same work as the components.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { PDF_BUCKET } from '../../../ground/buckets.ts'
import { buildTwin } from '../../../infra/node-twin.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { pdfKey } from '../../../workloads/shared/fields.ts'
import { useCloud } from '../../harness/cloud.ts'
import { waitForMessage } from '../../harness/mailbox.ts'

test('the plain Node twins store, log, link and mail like the components', async (t) => {
  const { env } = await useCloud()
  const pdf = await buildTwin('pdf', env)
  const email = await buildTwin('email', env)
  t.after(() => Promise.all([pdf.close(), email.close()]))
  const pdfUrl = await pdf.listen({ port: 0, host: '127.0.0.1' })
  const emailUrl = await email.listen({ port: 0, host: '127.0.0.1' })

  const text = 'Plain Node renders the same PDF. Ελληνικά too.'
  const res = await fetch(`${pdfUrl}/`, { method: 'POST', body: JSON.stringify({ text }), headers: { 'content-type': 'application/json' } })
  assert.equal(res.status, 200)
  const answer = (await res.json()) as { status: string; file_id: string; url: string; request_id: string }
  assert.equal(answer.status, 'stored')
  const stored = Buffer.concat(await (await s3FromEnv(env).getObject(PDF_BUCKET, pdfKey(answer.file_id))).toArray())
  assert.deepEqual(Buffer.from(await (await fetch(answer.url)).arrayBuffer()), stored)

  const db = new pg.Client({ connectionString: env.DATABASE_URL })
  await db.connect()
  t.after(() => db.end())
  const { rows } = await db.query('SELECT app, status, host(client_ip) AS ip FROM request_logs WHERE request_id = $1', [answer.request_id])
  assert.deepEqual(rows, [{ app: 'pdf', status: 'stored', ip: '127.0.0.1' }], 'the row of the app the twin runs as')

  const bad = await fetch(`${pdfUrl}/`, { method: 'POST', body: '{"text": 1}' })
  assert.deepEqual([bad.status, await bad.json()], [400, { error: 'text: expected a string', field: 'text' }])

  const to = `twin-${Date.now()}@example.com`
  const sent = await fetch(`${emailUrl}/send`, { method: 'POST', body: JSON.stringify({ to, file_id: answer.file_id }) })
  assert.equal(sent.status, 200)
  const mail = await waitForMessage(env.MAILDIR!, (m) => m.to.includes(to))
  assert.deepEqual(mail.mail.attachments[0]!.content, stored)
})
