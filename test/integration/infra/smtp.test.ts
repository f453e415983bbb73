import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { createTransport } from 'nodemailer'
import { smtpTransportOptions } from '../../../task-driver/capabilities/mail-capability.ts'
import { agents } from '../../../infra/cloud/agents/all.ts'
import { loadOrCreateCredentials } from '../../../infra/cloud/credentials.ts'
import { agentStatus } from '../../../infra/cloud/up.ts'
import { useCloud, withAgentStopped } from '../../harness/cloud.ts'
import { deliveredMessages, waitForMessage } from '../../harness/mailbox.ts'
import { uniqueName } from '../../harness/names.ts'

function transportTo(smtpAddr: string, caFile: string) {
  const [host, port] = smtpAddr.split(':')
  // As the mail capability sends: STARTTLS required, verified against the cloud's CA (SMTP_CACERT).
  return createTransport(smtpTransportOptions({ host: host!, port: Number(port), caFile }))
}

test('a message with an attachment is delivered into the Maildir', async () => {
  const { env } = await useCloud()
  const subject = uniqueName('smtp')
  // Random bytes, so a transfer encoding that mangles binary would show.
  const pdf = randomBytes(20_000)
  const sent = await transportTo(env.SMTP_ADDR!, env.SMTP_CACERT!).sendMail({
    from: 'Lean Cloud <pdf@lean-cloud.localhost>',
    to: 'Ada <ada@example.test>',
    bcc: 'audit@example.test',
    subject,
    text: 'Your PDF is attached.',
    attachments: [{ filename: 'report.pdf', content: pdf, contentType: 'application/pdf' }],
  })
  assert.deepEqual(sent.rejected, [])

  const message = await waitForMessage(env.MAILDIR!, (m) => m.mail.subject === subject)
  assert.deepEqual(message.to, ['ada@example.test'])
  assert.deepEqual([...message.envelope.to].sort(), ['ada@example.test', 'audit@example.test'])
  assert.equal(message.envelope.from, 'pdf@lean-cloud.localhost')
  assert.equal(message.mail.text?.trim(), 'Your PDF is attached.')
  assert.equal(message.mail.attachments.length, 1)
  const [attachment] = message.mail.attachments
  assert.equal(attachment!.filename, 'report.pdf')
  assert.equal(attachment!.contentType, 'application/pdf')
  assert.ok(attachment!.content.equals(pdf), 'the attachment arrives byte for byte')
  assert.ok((await deliveredMessages(env.MAILDIR!)).some((m) => m.file === message.file))
})

test('with the SMTP server stopped a send is refused, and it delivers again once back', async () => {
  const { config, env } = await useCloud()
  const smtp = agents.find((a) => a.name === 'smtp')!
  const credentials = await loadOrCreateCredentials(config)
  const subject = uniqueName('smtp-down')

  await withAgentStopped('smtp', async () => {
    assert.equal((await agentStatus(config, smtp, credentials)).healthy, false)
    await assert.rejects(
      transportTo(env.SMTP_ADDR!, env.SMTP_CACERT!).sendMail({ from: 'pdf@lean-cloud.localhost', to: 'ada@example.test', subject, text: 'lost' }),
      // nodemailer reports socket failures as ESOCKET, with the system error in the message.
      (err: Error & { code?: string }) => err.code === 'ESOCKET' && err.message === `connect ECONNREFUSED ${env.SMTP_ADDR}`,
    )
  })

  assert.equal((await agentStatus(config, smtp, credentials)).healthy, true)
  const again = await useCloud()
  await transportTo(again.env.SMTP_ADDR!, again.env.SMTP_CACERT!).sendMail({ from: 'pdf@lean-cloud.localhost', to: 'ada@example.test', subject, text: 'delivered' })
  const message = await waitForMessage(again.env.MAILDIR!, (m) => m.mail.subject === subject)
  assert.equal(message.mail.text?.trim(), 'delivered')
  assert.equal((await deliveredMessages(again.env.MAILDIR!)).filter((m) => m.mail.subject === subject).length, 1, 'the refused send left nothing behind')
})
