// The email worker's decisions, with its backends stubbed at the function boundary.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaultEmailSettings, MailDeliveryError, sendPdf, type EmailBackends, type OutgoingMail } from '../../../workloads/email/src/email-service.ts'

const fileId = '0b6f1c2e-6f0e-4a55-9d3e-6a1f0c9b2a11'

function backends(overrides: Partial<EmailBackends> = {}) {
  const sent: OutgoingMail[] = []
  const b: EmailBackends = {
    objectExists: async (_bucket, key) => key === `pdfs/${fileId}.pdf`,
    sendMail: async (mail) => (sent.push(mail), { messageId: '<1@test>' }),
    ...overrides,
  }
  return { b, sent }
}

test('sends the stored PDF as an attachment and answers the message id', async () => {
  const { b, sent } = backends()
  assert.deepEqual(await sendPdf(JSON.stringify({ to: 'a@b.co', file_id: fileId }), defaultEmailSettings, b), { status: 200, body: { status: 'sent', message_id: '<1@test>' } })
  assert.deepEqual(sent[0]!.attachments, [{ filename: `${fileId}.pdf`, bucket: 'cloud-pdfs', key: `pdfs/${fileId}.pdf`, content_type: 'application/pdf' }])
})

test('bad fields are named; an unknown file is 404; SMTP failure is 502 with the reason', async () => {
  const { b } = backends()
  assert.equal((await sendPdf(JSON.stringify({ to: 'nobody', file_id: fileId }), defaultEmailSettings, b)).body.field, 'to')
  assert.equal((await sendPdf(JSON.stringify({ to: 'a@b.co', file_id: '../etc' }), defaultEmailSettings, b)).body.field, 'file_id')
  assert.equal((await sendPdf(JSON.stringify({ to: 'a@b.co', file_id: fileId.replace('0b', '1b') }), defaultEmailSettings, b)).status, 404)
  const failing = backends({ sendMail: async () => Promise.reject(new MailDeliveryError('SMTP 127.0.0.1:2525: connect ECONNREFUSED')) })
  assert.deepEqual(await sendPdf(JSON.stringify({ to: 'a@b.co', file_id: fileId }), defaultEmailSettings, failing.b), {
    status: 502,
    body: { error: 'mail not sent: SMTP 127.0.0.1:2525: connect ECONNREFUSED' },
  })
})

test('an idempotency key goes with the mail; a repeat answers the first message, a send in doubt is refused for good', async () => {
  const { b, sent } = backends({ sendMail: async (mail) => (sent.push(mail), { messageId: '<1@test>', duplicate: sent.length > 1 }) })
  const body = JSON.stringify({ to: 'a@b.co', file_id: fileId })
  assert.deepEqual(await sendPdf(body, defaultEmailSettings, b, 'req-1'), { status: 200, body: { status: 'sent', message_id: '<1@test>' } })
  assert.equal(sent[0]!.idempotency_key, 'req-1')
  assert.deepEqual(await sendPdf(body, defaultEmailSettings, b, 'req-1'), { status: 200, body: { status: 'sent', message_id: '<1@test>', duplicate: true } })
  assert.equal((await sendPdf(body, defaultEmailSettings, b, 'has space')).body.field, 'idempotency-key')
  const inDoubt = backends({ sendMail: async () => Promise.reject(new MailDeliveryError('may have gone out', 409)) })
  assert.equal((await sendPdf(body, defaultEmailSettings, inDoubt.b, 'req-1')).status, 409)
})
