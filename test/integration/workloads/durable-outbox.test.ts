// The outbox survives its task: with the email worker down, PDFs asked to be
// mailed wait in PostgreSQL; the PDF job is stopped (no task of it is left)
// and started again, and once the email worker is back every mail goes out
// exactly once and every row says `emailed`. Real Nomad, PostgreSQL, SMTP.
// The jobs have names of their own, so other tests' rows and jobs stay apart.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { emailWorkerSpec, pdfServiceSpec } from '../../../jobs/workloads.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { publishComponent, s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { emailComponent, pdfComponent } from '../../harness/components.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { consul } from '../../harness/consul-http.ts'
import { deliveredMessages, waitForMessage } from '../../harness/mailbox.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { stopJob, taskProcessPids, waitForAllocs } from '../../harness/wasm-job.ts'

test('mail asked for while the email worker is down is sent exactly once, even after the PDF job restarted', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const db = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 })
  t.after(() => db.end())

  const [pdf, email] = await Promise.all([pdfComponent(), emailComponent()])
  for (const [name, c] of [['pdf', pdf], ['email', email]] as const) await publishComponent(s3FromEnv(env, 'publisher'), { name, file: c.file, bytes: 0, sha256: c.sha256 })
  const emailName = uniqueName('mailer')
  const pdfName = uniqueName('pdfs')
  const pdfJob = renderWasmServiceJob(pdfServiceSpec({ name: pdfName, sha256: pdf.sha256, count: 2, port: 'dynamic', instances: 2, env: { EMAIL_SERVICE: emailName } }))
  const emailJob = renderWasmServiceJob(emailWorkerSpec({ name: emailName, sha256: email.sha256, count: 1 }))
  t.after(() => Promise.all([stopJob(addr, pdfName).catch(() => {}), stopJob(addr, emailName).catch(() => {})]))
  const passing = async (name: string) => (await consul<unknown[]>(env.CONSUL_HTTP_ADDR!, 'GET', `/v1/health/service/${name}?passing=true`)).length
  const startPdf = async () => {
    await nomad(addr, 'PUT', '/v1/jobs', { Job: pdfJob })
    await waitForAllocs(addr, pdfName, 2, 'running', 180_000)
    await waitFor(async () => (await passing(pdfName)) === 2, { timeoutMs: 90_000, what: `two passing ${pdfName} instances` })
  }

  // Never started: the email worker is down from the first request on.
  await startPdf()
  const pdfUrl = await serviceUrl(env.CONSUL_DNS_ADDR!, pdfName)
  const recipients = [1, 2, 3, 4].map((i) => `${uniqueName(`outbox-${i}`)}@example.com`)
  const requestIds: string[] = []
  for (const to of recipients) {
    const res = await fetch(`${pdfUrl}/`, { method: 'POST', body: JSON.stringify({ text: `For ${to}`, email: to }), headers: { 'content-type': 'application/json' } })
    const answer = (await res.json()) as { status: string; request_id: string }
    assert.equal(res.status, 200, JSON.stringify(answer))
    assert.equal(answer.status, 'email_pending', 'the first attempt found no email worker')
    requestIds.push(answer.request_id)
  }
  const rows = async () =>
    (await db.query<{ request_id: string; status: string; error: string | null; outbox: string; attempts: number }>(
      `SELECT r.request_id, r.status, r.error, o.status AS outbox, o.attempts
       FROM request_logs r JOIN outbox o ON o.request_id = r.request_id AND o.service = $2
       WHERE r.request_id = ANY($1::text[]) ORDER BY r.request_id`,
      [requestIds, emailName],
    )).rows
  assert.deepEqual((await rows()).map((r) => [r.status, r.outbox]), requestIds.map(() => ['email_pending', 'pending']))

  await t.test('the PDF job stops: no task of it is left, the calls wait in the outbox', async () => {
    const allocs = await waitForAllocs(addr, pdfName, 2, 'running')
    await stopJob(addr, pdfName)
    for (const alloc of allocs) {
      await waitFor(async () => (await taskProcessPids(alloc.ID)).length === 0, { timeoutMs: 90_000, what: `the tasks of allocation ${alloc.ID} to end` })
    }
    const waiting = await rows()
    assert.deepEqual(waiting.map((r) => [r.status, r.outbox]), requestIds.map(() => ['email_pending', 'pending']))
    assert.ok(waiting.every((r) => r.attempts >= 1))
  })

  await t.test('the PDF job starts again, then the email worker: every mail once, every row emailed', async () => {
    await startPdf()
    // The new tasks' delivery loop keeps trying while the worker is still down.
    const before = Math.min(...(await rows()).map((r) => r.attempts))
    await waitFor(async () => Math.min(...(await rows()).map((r) => r.attempts)) > before, { timeoutMs: 90_000, what: 'the restarted PDF job to retry the calls' })
    assert.deepEqual((await rows()).map((r) => r.status), requestIds.map(() => 'email_pending'))

    await nomad(addr, 'PUT', '/v1/jobs', { Job: emailJob })
    for (const to of recipients) await waitForMessage(env.MAILDIR!, (m) => m.to.includes(to), 240_000)
    await waitFor(async () => (await rows()).every((r) => r.status === 'emailed' && r.outbox === 'delivered'), { timeoutMs: 60_000, what: 'every row to say emailed' })
    // A row is marked after its mail went out, and a delivered row is never
    // claimed again: what the Maildir holds now is all there will be.
    const messages = await deliveredMessages(env.MAILDIR!)
    for (const to of recipients) {
      const mine = messages.filter((m) => m.to.includes(to))
      assert.equal(mine.length, 1, `${to} got ${mine.length} messages`)
      assert.equal(mine[0]!.mail.attachments.length, 1)
      assert.equal(mine[0]!.mail.attachments[0]!.contentType, 'application/pdf')
      assert.match(mine[0]!.mail.messageId ?? '', /\.once@/, 'sent with the idempotency key the outbox gave it')
    }
    assert.deepEqual((await rows()).map((r) => [r.status, r.error]), requestIds.map(() => ['emailed', null]))
  })
})
