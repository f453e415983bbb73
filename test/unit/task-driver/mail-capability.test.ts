// The mail capability's request checks and the Message-ID a keyed message gets.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { idempotentMessageId, mayMail, parseMailRequest, smtpTransportOptions } from '../../../task-driver/capabilities/mail-capability.ts'
import { parsePluginConfig } from '../../../task-driver/wasm/plugin-config.ts'

const message = { to: 'a@b.co', subject: 's', text: 't' }

test('an idempotency key is optional, printable and at most 200 characters', () => {
  assert.equal(parseMailRequest(message).idempotencyKey, undefined)
  assert.equal(parseMailRequest({ ...message, idempotency_key: 'req-1' }).idempotencyKey, 'req-1')
  for (const bad of ['', 'a b', 'x'.repeat(201), 42]) {
    assert.throws(() => parseMailRequest({ ...message, idempotency_key: bad }), /idempotency_key: expected 1 to 200 printable ASCII characters/)
  }
})

test('the same key and recipient always make the same Message-ID, in the sender\'s domain', () => {
  const id = idempotentMessageId('req-1', 'a@b.co', 'Lean Cloud <noreply@lean-cloud.localhost>')
  assert.match(id, /^<[0-9a-f]{40}\.once@lean-cloud\.localhost>$/)
  assert.equal(idempotentMessageId('req-1', 'a@b.co', 'noreply@lean-cloud.localhost'), id)
  assert.notEqual(idempotentMessageId('req-1', 'c@b.co', 'noreply@lean-cloud.localhost'), id)
  assert.notEqual(idempotentMessageId('req-2', 'a@b.co', 'noreply@lean-cloud.localhost'), id)
})

test('a mail grant covers the addresses it names and any address at the domains it names, not their subdomains', () => {
  const grant = ['example.com', 'ops@example.org']
  assert.equal(mayMail(grant, 'Ada@Example.com'), true)
  assert.equal(mayMail(grant, 'ops@example.org'), true)
  assert.equal(mayMail(grant, 'dev@example.org'), false)
  assert.equal(mayMail(grant, 'a@mail.example.com'), false)
  assert.equal(mayMail(grant, 'a@example.com.evil.test'), false)
  assert.equal(mayMail([], 'a@example.com'), false)
})

test('mail goes out over STARTTLS only, verified against the relay CA file or the system roots', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-smtp-ca-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const caFile = path.join(dir, 'ca.pem')
  await writeFile(caFile, 'CA PEM')
  const withCa = smtpTransportOptions({ host: '127.0.0.1', port: 2525, caFile })
  assert.equal(withCa.requireTLS, true, 'a relay that offers no STARTTLS is refused')
  assert.equal(withCa.secure, false)
  assert.deepEqual(withCa.tls, { ca: 'CA PEM' }, 'the CA changes, verification stays on')
  const system = smtpTransportOptions({ host: 'smtp.example', port: 587 })
  assert.equal(system.requireTLS, true)
  assert.ok(!('tls' in system), "the system's roots")

  const config = parsePluginConfig({ smtp_addr: '127.0.0.1:2525', smtp_ca_file: caFile })
  assert.deepEqual(config.smtp, { host: '127.0.0.1', port: 2525, from: 'Lean Cloud <noreply@lean-cloud.localhost>', caFile })
  assert.throws(() => parsePluginConfig({ smtp_addr: '127.0.0.1:2525', smtp_ca_file: 'ca.pem' }), /plugin config smtp_ca_file: must be an absolute path, got ca\.pem/)
  assert.throws(
    () => parsePluginConfig({ s3_endpoint: 'https://127.0.0.1:9000', s3_access_key: 'a', s3_secret_key: 's', s3_ca_file: 'ca.pem' }),
    /plugin config s3_ca_file: must be an absolute path, got ca\.pem/,
  )
})
