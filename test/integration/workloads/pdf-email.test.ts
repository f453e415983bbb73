// The product's two services on the real cloud: the PDF service and the email
// worker as components under the wasm driver, found through Consul DNS,
// storing in S3, logging in PostgreSQL and mailing over real SMTP.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { emailWorkerSpec, pdfServiceSpec } from '../../../jobs/workloads.ts'
import { PDF_BUCKET } from '../../../ground/buckets.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { publishComponent, s3FromEnv } from '../../../infra/components/publish.ts'
import { pdfKey } from '../../../workloads/shared/fields.ts'
import { useCloud, withAgentStopped } from '../../harness/cloud.ts'
import { emailComponent, pdfComponent } from '../../harness/components.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { consul } from '../../harness/consul-http.ts'
import { deliveredMessages, waitForMessage } from '../../harness/mailbox.ts'
import { inkRuns, pdftotextOf, renderedPage } from '../../harness/pdf-page.ts'
import { roundTripCorpus } from '../../unit/workloads/round-trip-corpus.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { stopJob, waitForAllocs } from '../../harness/wasm-job.ts'

const run = promisify(execFile)

/** The text pdftotext reads back, with line breaks and page breaks as plain spaces. */
const pdfText = async (bytes: Buffer) => normalise(await pdftotextOf(bytes))

async function pdfPages(bytes: Buffer): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pdf-'))
  try {
    await writeFile(path.join(dir, 'in.pdf'), bytes)
    const { stdout } = await run('pdfinfo', [path.join(dir, 'in.pdf')])
    return Number(/^Pages:\s+(\d+)/m.exec(stdout)?.[1])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// pdftotext marks right-to-left stretches with directional formatting characters
// (U+202A-U+202C) and reads the PDF's invisible direction marks (U+200E, U+200F):
// formatting, not text.
const normalise = (text: string) => text.replace(/[\u200e\u200f\u202a-\u202e]/g, '').replace(/\s+/g, ' ').trim()

interface PdfAnswer {
  status: string
  file_id: string
  url: string
  request_id: string
  error?: string
  field?: string
}

test('the PDF service and the email worker run under the wasm driver and do their jobs', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const s3 = s3FromEnv(env)
  const db = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 })
  t.after(() => db.end())
  const row = async (requestId: string) =>
    (await db.query<{ status: string; client_ip: string | null; pdf_object_key: string | null; request_text: string; error: string | null }>(
      'SELECT status, host(client_ip) AS client_ip, pdf_object_key, request_text, error FROM request_logs WHERE request_id = $1',
      [requestId],
    )).rows[0]

  const [pdf, email] = await Promise.all([pdfComponent(), emailComponent()])
  for (const [name, c] of [['pdf', pdf], ['email', email]] as const) await publishComponent(s3FromEnv(env, 'publisher'), { name, file: c.file, bytes: 0, sha256: c.sha256 })
  // One node: the seeds' fixed port 8080 would fit one allocation, so the test runs dynamic ports.
  const pdfJob = renderWasmServiceJob(pdfServiceSpec({ sha256: pdf.sha256, count: 2, port: 'dynamic' }))
  const emailJob = renderWasmServiceJob(emailWorkerSpec({ sha256: email.sha256, count: 2 }))
  for (const job of [pdfJob, emailJob]) {
    await nomad(addr, 'PUT', '/v1/jobs', { Job: job })
    t.after(() => stopJob(addr, job.ID).catch(() => {}))
  }
  await waitForAllocs(addr, 'pdf', 2, 'running', 180_000)
  await waitForAllocs(addr, 'email', 2, 'running', 180_000)

  await t.test('Consul shows pdf and email passing', async () => {
    for (const name of ['pdf', 'email']) {
      await waitFor(
        async () => {
          const entries = await consul<unknown[]>(env.CONSUL_HTTP_ADDR!, 'GET', `/v1/health/service/${name}?passing=true`)
          return entries.length === 2
        },
        { timeoutMs: 60_000, what: `two passing ${name} instances in Consul` },
      )
    }
  })

  const pdfUrl = await serviceUrl(env.CONSUL_DNS_ADDR!, 'pdf')
  const post = async (body: unknown) => {
    const res = await fetch(`${pdfUrl}/`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    return { status: res.status, answer: (await res.json()) as PdfAnswer }
  }

  for (const [label, text] of [
    ['ASCII', 'Invoice 2026-11: three widgets at 4.50 each, total 13.50. Thank you for your order!'],
    ['non-Latin', 'Привет, мир! Счёт № 42 оплачен. Καλημέρα κόσμε, ευχαριστούμε.'],
  ] as const) {
    await t.test(`${label} text: stored, readable, logged and mailed with the PDF attached`, async () => {
      const to = `reader-${Date.now()}@example.com`
      const { status, answer } = await post({ text, email: to })
      assert.equal(status, 200, JSON.stringify(answer))
      assert.equal(answer.status, 'emailed')
      assert.match(answer.file_id, /^[0-9a-f-]{36}$/)

      const stored = await s3.getObject(PDF_BUCKET, pdfKey(answer.file_id))
      const bytes = Buffer.concat(await stored.toArray())
      assert.equal(bytes.subarray(0, 5).toString(), '%PDF-')
      assert.equal(await pdfText(bytes), normalise(text))

      const viaLink = Buffer.from(await (await fetch(answer.url)).arrayBuffer())
      assert.deepEqual(viaLink, bytes, 'the presigned link serves the stored PDF')
      assert.equal((await fetch(`${env.S3_ENDPOINT}/${PDF_BUCKET}/${pdfKey(answer.file_id)}`)).status, 403, 'the object is private')

      const logged = await row(answer.request_id)
      assert.equal(logged?.status, 'emailed')
      assert.equal(logged?.pdf_object_key, pdfKey(answer.file_id))
      assert.equal(logged?.client_ip, '127.0.0.1')
      assert.equal(logged?.request_text, text)

      const mail = await waitForMessage(env.MAILDIR!, (m) => m.to.includes(to))
      assert.equal(mail.mail.attachments.length, 1)
      assert.equal(mail.mail.attachments[0]!.contentType, 'application/pdf')
      assert.deepEqual(mail.mail.attachments[0]!.content, bytes, 'the attachment is the stored PDF')
    })
  }

  await t.test('every script: stored as written, and pdftotext reads the input back in logical order', async () => {
    const samples = {
      Arabic: 'مرحبا بالعالم، هذه وثيقة عربية.',
      'Arabic lam-alef ligatures': 'السلام عليكم، فلا بأس، الله أكبر',
      'Hebrew with niqqud': 'שַׁבָּת שָׁלוֹם בְּרֵאשִׁית',
      'Hebrew with digits': 'שלום עולם, יש לי 123 תפוחים ו-45 אגסים.',
      Chinese: '你好，世界。这是一个中文文档。',
      Japanese: 'こんにちは世界。これは日本語の文書です。',
      Korean: '안녕하세요 세계. 이것은 한국어 문서입니다.',
      Devanagari: 'नमस्ते दुनिया। यह हिन्दी दस्तावेज़ है।',
      Thai: 'สวัสดีชาวโลก นี่คือเอกสารภาษาไทย',
      'Thai with stacked marks': 'น้ำแข็ง ผู้ใหญ่',
      'Devanagari conjuncts': 'क्षमा ज्ञान श्री किताब',
    }
    for (const [script, text] of Object.entries(samples)) {
      const { status, answer } = await post({ text })
      assert.equal(status, 200, `${script}: ${JSON.stringify(answer)}`)
      const bytes = Buffer.concat(await (await s3.getObject(PDF_BUCKET, pdfKey(answer.file_id))).toArray())
      assert.equal(await pdfText(bytes), normalise(text), script)
    }
    // A long right-to-left paragraph wraps within the margins and still reads back.
    const long = Array.from({ length: 40 }, (_, i) => `שורה ${i + 1} של מסמך ארוך`).join(' ')
    const { answer } = await post({ text: long })
    const bytes = Buffer.concat(await (await s3.getObject(PDF_BUCKET, pdfKey(answer.file_id))).toArray())
    assert.equal((await pdfText(bytes)).replace(/ /g, ''), long.replace(/ /g, ''))
  })

  await t.test('the whole round-trip corpus, shaped by the wasm host, reads back as written, with ink from the margin', async () => {
    const stored = async (text: string) => {
      const { status, answer } = await post({ text })
      assert.equal(status, 200, JSON.stringify(answer))
      return Buffer.concat(await (await s3.getObject(PDF_BUCKET, pdfKey(answer.file_id))).toArray())
    }
    const rtl = (text: string) => /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/.test(text)
    for (const [script, entries] of Object.entries(roundTripCorpus)) {
      // As the unit test does: pdftotext reads a page by what most of it is, so right-to-left
      // entries get a document each, the other scripts one document with an entry per line.
      const wrong: string[] = []
      if (entries.some(rtl)) {
        for (const text of entries) {
          const read = await pdfText(await stored(text))
          if (read !== normalise(text)) wrong.push(`${JSON.stringify(text)} read as ${JSON.stringify(read)}`)
        }
      } else {
        const lines = (await pdftotextOf(await stored(entries.join('\n')))).split(/[\n\f]/).map(normalise).filter((line) => line !== '')
        entries.forEach((text, i) => {
          if (lines[i] !== text) wrong.push(`${JSON.stringify(text)} read as ${JSON.stringify(lines[i])}`)
        })
      }
      assert.deepEqual(wrong, [], `${script}: ${wrong.length} of ${entries.length} entries`)
      // Ink in the first line's band, from the left margin (to the right one for right-to-left text).
      const page = await renderedPage(await stored(entries[0]!))
      const runs = inkRuns(page)
      assert.ok(runs.length > 0, `${script}: ink on the first line`)
      // A paragraph's direction is its first letter's (the bidi algorithm's rules P2 and P3).
      const firstLetter = [...entries[0]!].find((ch) => /\p{L}/u.test(ch)) ?? ''
      if (rtl(firstLetter)) assert.ok(runs.at(-1)![1] > page.width - 56 - 6, `${script}: ink ends at ${runs.at(-1)![1]}`)
      else assert.ok(Math.abs(runs[0]![0] - 56) <= 6, `${script}: ink starts at ${runs[0]![0]}`)
    }
  })

  await t.test('the rendered page shows Arabic joined and set right to left', async () => {
    const render = async (text: string) => {
      const { answer } = await post({ text })
      return renderedPage(Buffer.concat(await (await s3.getObject(PDF_BUCKET, pdfKey(answer.file_id))).toArray()))
    }
    // ZERO WIDTH NON-JOINER between the letters forbids joining: the same letters, unjoined.
    const joined = inkRuns(await render('سلسبيل'))
    const unjoined = inkRuns(await render([...'سلسبيل'].join('\u200c')))
    assert.ok(joined.length > 0 && joined.length < unjoined.length, `joined letters touch: ${joined.length} ink runs, ${unjoined.length} when forbidden to join`)
    // Set flush right: the ink ends at the right margin (56 pt on a 595 pt page), far from the left one.
    const page = await render('مرحبا بالعالم')
    const runs = inkRuns(page)
    assert.ok(runs.at(-1)![1] > page.width - 56 - 6, `ink ends at ${runs.at(-1)![1]} of ${page.width}`)
    assert.ok(runs[0]![0] > 300, `ink starts at ${runs[0]![0]}`)
  })

  await t.test('characters no bundled font can draw: 422 naming them, nothing stored or logged', async () => {
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM request_logs')
    const res = await fetch(`${pdfUrl}/`, { method: 'POST', body: JSON.stringify({ text: 'Cuneiform 𒀀𒀁 and Linear B 𐀀' }), headers: { 'content-type': 'application/json' } })
    assert.equal(res.status, 422)
    const body = (await res.json()) as { error: string; field: string; characters: string[] }
    assert.equal(body.field, 'text')
    assert.deepEqual(body.characters, ['𒀀', '𒀁', '𐀀'])
    assert.match(body.error, /U\+12000 "𒀀", U\+12001 "𒀁", U\+10000 "𐀀"/)
    const after = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM request_logs')
    assert.equal(after.rows[0]!.n, before.rows[0]!.n)
  })

  await t.test('long text wraps over several A4 pages', async () => {
    const text = Array.from({ length: 400 }, (_, i) => `Line ${i} of a long report with enough words to wrap across the page width at least once.`).join('\n')
    const { status, answer } = await post({ text })
    assert.equal(status, 200)
    assert.equal(answer.status, 'stored')
    const bytes = Buffer.concat(await (await s3.getObject(PDF_BUCKET, pdfKey(answer.file_id))).toArray())
    assert.ok((await pdfPages(bytes)) > 5)
    assert.equal(await pdfText(bytes), normalise(text))
  })

  await t.test('bad requests get a clear error naming the field', async () => {
    assert.deepEqual(await post({}), { status: 400, answer: { error: 'text: required', field: 'text' } })
    assert.equal((await post({ text: 42 })).answer.error, 'text: expected a string')
    assert.equal((await post('not json')).answer.field, 'body')
    const badEmail = await post({ text: 'hi', email: 'not-an-address' })
    assert.equal(badEmail.status, 400)
    assert.equal(badEmail.answer.field, 'email')
    const tooLong = await post({ text: 'x'.repeat(1024 * 1024 + 1) })
    assert.equal(tooLong.status, 413)
    assert.match(tooLong.answer.error!, /text: 1048577 bytes is over the limit of 1048576/)
    const atLimit = await post({ text: 'x'.repeat(1024 * 1024) })
    assert.equal(atLimit.status, 200, 'exactly at the limit is accepted')
  })

  await t.test('GET /health answers for the Consul check', async () => {
    const res = await fetch(`${pdfUrl}/health`)
    assert.equal(res.status, 200)
  })

  await t.test('S3 down: 503, a failed row, nothing stored', async () => {
    const before = await db.query('SELECT count(*)::int AS n FROM request_logs WHERE pdf_object_key IS NOT NULL')
    const { status, answer } = await withAgentStopped('s3', () => post({ text: 'while storage is down' }))
    assert.equal(status, 503)
    assert.match(answer.error!, /^storage unavailable/)
    const logged = await row(answer.request_id)
    assert.equal(logged?.status, 'failed')
    assert.equal(logged?.pdf_object_key, null)
    assert.match(logged?.error ?? '', /storage unavailable/)
    const after = await db.query('SELECT count(*)::int AS n FROM request_logs WHERE pdf_object_key IS NOT NULL')
    assert.equal(after.rows[0].n, before.rows[0].n)
  })

  await t.test('email worker down: the PDF is kept, email pending, and delivered once the worker is back', async () => {
    await stopJob(addr, 'email')
    await waitFor(async () => (await consul<unknown[]>(env.CONSUL_HTTP_ADDR!, 'GET', '/v1/health/service/email?passing=true')).length === 0, {
      timeoutMs: 90_000,
      what: 'email to leave Consul',
    })
    const to = `later-${Date.now()}@example.com`
    const { status, answer } = await post({ text: 'mail me when you can', email: to })
    assert.equal(status, 200)
    assert.equal(answer.status, 'email_pending')
    assert.equal((await row(answer.request_id))?.status, 'email_pending')
    await s3.statObject(PDF_BUCKET, pdfKey(answer.file_id))

    await nomad(addr, 'PUT', '/v1/jobs', { Job: emailJob })
    const mail = await waitForMessage(env.MAILDIR!, (m) => m.to.includes(to), 120_000)
    assert.equal(mail.mail.attachments.length, 1)
    await waitFor(async () => (await row(answer.request_id))?.status === 'emailed', { timeoutMs: 60_000, what: 'the row to say emailed' })
  })

  await t.test('email worker: unknown file 404, bad address 400, SMTP down 502 with the reason', async () => {
    await waitForAllocs(addr, 'email', 2, 'running', 120_000)
    const emailUrl = await serviceUrl(env.CONSUL_DNS_ADDR!, 'email')
    const send = async (body: unknown, idempotencyKey?: string) => {
      const res = await fetch(`${emailUrl}/send`, { method: 'POST', body: JSON.stringify(body), ...(idempotencyKey && { headers: { 'idempotency-key': idempotencyKey } }) })
      return { status: res.status, answer: (await res.json()) as { error?: string; field?: string; status?: string; message_id?: string; duplicate?: boolean } }
    }
    const { answer: stored } = await post({ text: 'for the direct send' })
    assert.equal((await send({ to: 'a@example.com', file_id: '00000000-0000-4000-8000-000000000000' })).status, 404)
    const bad = await send({ to: 'nobody', file_id: stored.file_id })
    assert.equal(bad.status, 400)
    assert.equal(bad.answer.field, 'to')
    const down = await withAgentStopped('smtp', () => send({ to: 'a@example.com', file_id: stored.file_id }))
    assert.equal(down.status, 502)
    assert.match(down.answer.error!, /mail not sent: SMTP 127\.0\.0\.1:\d+: .*ECONNREFUSED/)
    const sent = await send({ to: 'direct@example.com', file_id: stored.file_id })
    assert.equal(sent.status, 200)
    assert.equal(sent.answer.status, 'sent')

    // The outbox sends its request id as the idempotency key: one message per key and recipient.
    const key = `idem-${Date.now()}`
    const once = `once-${Date.now()}@example.com`
    const first = await send({ to: once, file_id: stored.file_id }, key)
    assert.equal(first.status, 200, JSON.stringify(first.answer))
    const repeat = await send({ to: once, file_id: stored.file_id }, key)
    assert.deepEqual(repeat, { status: 200, answer: { status: 'sent', message_id: first.answer.message_id, duplicate: true } })
    const mail = await waitForMessage(env.MAILDIR!, (m) => m.to.includes(once))
    assert.equal(mail.mail.messageId, first.answer.message_id)
    assert.equal((await deliveredMessages(env.MAILDIR!)).filter((m) => m.to.includes(once)).length, 1)
    // A send whose sender stopped between reserving the key and confirming it may have gone out: refused for good.
    const doubt = `doubt-${Date.now()}@example.com`
    // The email worker's app (its job's name) holds the reservation.
    await db.query(`INSERT INTO mail_sends (app, idempotency_key, recipient, status, message_id, created_at) VALUES ('email', $1, $2, 'sending', '<x@y>', now() - interval '1 hour')`, [key, doubt])
    const refused = await send({ to: doubt, file_id: stored.file_id }, key)
    assert.equal(refused.status, 409)
    assert.match(refused.answer.error!, /may have gone out, so it is not sent again/)
  })
})
