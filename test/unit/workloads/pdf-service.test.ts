// The PDF service's decisions, with its backends stubbed at the function
// boundary (the integration tests run it against the real ones).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createPdf, defaultPdfSettings, parsePdfRequest, pdfSettingsFrom, type PdfBackends, type RequestLogRow } from '../../../workloads/pdf/src/pdf-service.ts'

function backends(overrides: Partial<PdfBackends> = {}) {
  const rows: RequestLogRow[] = []
  const objects = new Map<string, Uint8Array>()
  const b: PdfBackends = {
    render: async (text) => new TextEncoder().encode(`%PDF-${text}`),
    storeObject: async (bucket, key, bytes) => (objects.set(key, bytes), `http://s3/${bucket}/${key}?sig`),
    deleteObject: async (_bucket, key) => void objects.delete(key),
    logRequest: async (row) => void rows.push(row),
    requestEmail: async () => ({ delivered: true }),
    ...overrides,
  }
  return { b, rows, objects }
}

test('validation names the field and the reason', () => {
  const s = defaultPdfSettings
  assert.deepEqual(parsePdfRequest('{}', s), { status: 400, body: { error: 'text: required', field: 'text' } })
  assert.deepEqual(parsePdfRequest('[1]', s), { status: 400, body: { error: 'body: expected a JSON object', field: 'body' } })
  assert.equal((parsePdfRequest('{"text":"a","email":"x@"}', s) as unknown as { body: { field: string } }).body.field, 'email')
  assert.equal((parsePdfRequest(JSON.stringify({ text: 'é'.repeat(6) }), { ...s, maxTextBytes: 11 }) as unknown as { status: number }).status, 413, 'the limit counts UTF-8 bytes')
  assert.deepEqual(parsePdfRequest('{"text":"hi","email":"a@b.co"}', s), { text: 'hi', email: 'a@b.co' })
})

test('settings come from the environment, and bad values are named', () => {
  assert.deepEqual(pdfSettingsFrom(() => undefined), defaultPdfSettings)
  assert.equal(pdfSettingsFrom((n) => (n === 'PDF_MAX_TEXT_BYTES' ? '2048' : undefined)).maxTextBytes, 2048)
  assert.throws(() => pdfSettingsFrom((n) => (n === 'PDF_LINK_SECONDS' ? 'soon' : undefined)), /PDF_LINK_SECONDS: expected a whole number/)
})

test('a stored PDF is logged and linked; with an email it is sent', async () => {
  const { b, rows, objects } = backends()
  const answer = await createPdf('{"text":"hello","email":"a@b.co"}', '10.0.0.1', defaultPdfSettings, b)
  assert.equal(answer.status, 200)
  assert.equal(answer.body.status, 'emailed')
  assert.equal(objects.size, 1)
  assert.equal(rows[0]!.client_ip, '10.0.0.1')
  assert.equal(rows[0]!.pdf_object_key, `pdfs/${answer.body.file_id}.pdf`)
})

test('storage down: 503, a failed row, nothing stored', async () => {
  const { b, rows, objects } = backends({ storeObject: async () => Promise.reject(new Error('connect ECONNREFUSED')) })
  const answer = await createPdf('{"text":"hello"}', undefined, defaultPdfSettings, b)
  assert.equal(answer.status, 503)
  assert.equal(rows[0]!.status, 'failed')
  assert.match(rows[0]!.error!, /storage unavailable: connect ECONNREFUSED/)
  assert.equal(objects.size, 0)
})

test('request log down: the stored PDF is removed again, 503', async () => {
  const { b, objects } = backends({ logRequest: async () => Promise.reject(new Error('database down')) })
  const answer = await createPdf('{"text":"hello"}', undefined, defaultPdfSettings, b)
  assert.equal(answer.status, 503)
  assert.match(String(answer.body.error), /request log unavailable/)
  assert.equal(objects.size, 0)
})

test('email worker down: the PDF is kept and the answer says email_pending', async () => {
  const { b, rows, objects } = backends({ requestEmail: async () => ({ delivered: false, final: false, reason: 'no passing instances' }) })
  const answer = await createPdf('{"text":"hello","email":"a@b.co"}', undefined, defaultPdfSettings, b)
  assert.equal(answer.status, 200)
  assert.equal(answer.body.status, 'email_pending')
  assert.equal(rows[0]!.status, 'email_pending')
  assert.equal(objects.size, 1)
})
