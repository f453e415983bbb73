// The mail capability's request checks and the Message-ID a keyed message gets.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { idempotentMessageId, mayMail, parseMailRequest } from '../../../task-driver/capabilities/mail-capability.ts'

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
