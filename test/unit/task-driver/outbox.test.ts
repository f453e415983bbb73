// The outbox's decisions (deliver, back off, give up, refuse) and its delivery
// loop, with the store and the service call stubbed at their function
// boundaries. The SQL itself runs against PostgreSQL in
// test/integration/task-driver/outbox-store.test.ts.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import pino from 'pino'
import { Refusal } from '../../../task-driver/capabilities/capability-refusal.ts'
import { defaultOutboxPolicy, Outbox, retryDelayMs, type OutboxPolicy, type ServiceCall } from '../../../task-driver/capabilities/outbox.ts'
import { acquireOutbox, OutboxDispatcher } from '../../../task-driver/capabilities/outbox-dispatcher.ts'
import type { NewOutboxEntry, OutboxRow, OutboxStore } from '../../../task-driver/capabilities/outbox-store.ts'
import type { ServiceRequest } from '../../../task-driver/capabilities/service-call.ts'

const log = pino({ level: 'silent' })
const policy: OutboxPolicy = { ...defaultOutboxPolicy, maxAttempts: 5 }

type Mark = [string, ...unknown[]]

/** A store that answers what the test sets and records every mark. */
function stubStore(options: { conflict?: boolean; due?: OutboxRow[]; markFails?: boolean } = {}) {
  const marks: Mark[] = []
  const inserted: NewOutboxEntry[] = []
  const mark = (name: string) => async (...args: unknown[]) => {
    marks.push([name, ...args])
    if (options.markFails) throw new Error('connection terminated')
    return true
  }
  const store: OutboxStore = {
    async insertClaimed(entry) {
      inserted.push(entry)
      return options.conflict ? undefined : { ...entry, id: 7, attempts: 1 }
    },
    async claimDue(services, claimer, leaseMs, limit) {
      marks.push(['claimDue', services, claimer, leaseMs, limit])
      return options.due ?? []
    },
    markDelivered: mark('markDelivered'),
    retryLater: mark('retryLater'),
    markFailed: mark('markFailed'),
  }
  return { store, marks, inserted }
}

function stubCall(answer: { status: number; body?: string } | Error) {
  const calls: Array<{ service: string; request: ServiceRequest }> = []
  const call: ServiceCall = async (service, request) => {
    calls.push({ service, request })
    if (answer instanceof Error) throw answer
    return { status: answer.status, contentType: 'application/json', body: Buffer.from(answer.body ?? '{}') }
  }
  return { call, calls }
}

const submission = {
  service: 'email',
  request: { method: 'POST', path: 'send', contentType: 'application/json', body: Buffer.from('{"to":"a@b.co"}') },
  requestId: 'req-1',
  deliveredStatus: 'emailed',
}

const row = (attempts: number, id = 9): OutboxRow => ({
  id,
  service: 'email',
  request: { method: 'POST', path: 'send', headers: { 'content-type': 'application/json', 'idempotency-key': 'req-2' }, body: Buffer.from('{}') },
  requestId: 'req-2',
  deliveredStatus: 'emailed',
  attempts,
  maxAttempts: 5,
})

test('backoff doubles from the first delay up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 30].map((n) => retryDelayMs(n, defaultOutboxPolicy)),
    [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000],
  )
})

test('a first attempt that succeeds is marked delivered; the call carries the request id as its idempotency key', async () => {
  const { store, marks, inserted } = stubStore()
  const { call, calls } = stubCall({ status: 200, body: '{"status":"sent"}' })
  const outbox = new Outbox(store, call, log, policy, 'me')
  const first = await outbox.submit(submission)
  assert.equal(first.delivered, true)
  assert.deepEqual(inserted[0]!.request.headers, { 'content-type': 'application/json', 'idempotency-key': 'req-1' })
  assert.equal(inserted[0]!.maxAttempts, 5)
  assert.deepEqual(calls[0]!.request.headers, { 'content-type': 'application/json', 'idempotency-key': 'req-1' })
  assert.equal(calls[0]!.request.timeoutMs, policy.callTimeoutMs)
  assert.deepEqual(marks, [['markDelivered', 7]])
})

test('a service that is down or failing: queued (not final), retried after the first delay', async () => {
  for (const answer of [new Error('service email has no passing instances'), { status: 503, body: 'busy' }, { status: 429 }, { status: 408 }]) {
    const { store, marks } = stubStore()
    const first = await new Outbox(store, stubCall(answer).call, log, policy, 'me').submit(submission)
    assert.equal(first.delivered, false)
    assert.equal(!first.delivered && first.final, false)
    assert.deepEqual(marks.map((m) => m.slice(0, 4)), [['retryLater', 7, 'me', 1000]])
  }
})

test('a 4xx answer is final: the row fails with the service\'s reason and is not retried', async () => {
  const { store, marks } = stubStore()
  const first = await new Outbox(store, stubCall({ status: 404, body: 'no file' }).call, log, policy, 'me').submit(submission)
  assert.deepEqual(first, { delivered: false, final: true, reason: 'email answered 404: no file', outboxId: 7 })
  assert.deepEqual(marks, [['markFailed', 7, 'me', 'email refused: email answered 404: no file']])
})

test('a request id already in the outbox is refused with 409', async () => {
  const { store } = stubStore({ conflict: true })
  const { call, calls } = stubCall({ status: 200 })
  await assert.rejects(new Outbox(store, call, log, policy, 'me').submit(submission), (err: Refusal) => err.status === 409 && err.code === 'LEAN_ERR_CAPABILITY_CONFLICT')
  assert.equal(calls.length, 0)
})

test('later attempts back off exponentially; the last one gives up and says why', async () => {
  const { store, marks } = stubStore()
  const outbox = new Outbox(store, stubCall({ status: 502, body: 'SMTP down' }).call, log, policy, 'me')
  for (let attempts = 2; attempts <= 5; attempts++) await outbox.deliver(row(attempts))
  assert.deepEqual(marks, [
    ['retryLater', 9, 'me', 2000, 'email answered 502: SMTP down'],
    ['retryLater', 9, 'me', 4000, 'email answered 502: SMTP down'],
    ['retryLater', 9, 'me', 8000, 'email answered 502: SMTP down'],
    ['markFailed', 9, 'me', 'email call given up after 5 attempts: email answered 502: SMTP down'],
  ])
})

test('a row whose claimer stopped during its last attempt fails without another call', async () => {
  const { store, marks } = stubStore()
  const { call, calls } = stubCall({ status: 200 })
  await new Outbox(store, call, log, policy, 'me').deliver(row(6))
  assert.equal(calls.length, 0)
  assert.deepEqual(marks, [['markFailed', 9, 'me', 'email call given up after 5 attempts']])
})

test('a mark that fails does not fail the attempt (the lease brings the row back)', async () => {
  const { store } = stubStore({ markFails: true })
  const first = await new Outbox(store, stubCall({ status: 200 }).call, log, policy, 'me').submit(submission)
  assert.equal(first.delivered, true)
})

test('drain claims due rows of the given services under a lease and delivers each', async () => {
  const { store, marks } = stubStore({ due: [row(2, 1), row(3, 2)] })
  const { call, calls } = stubCall({ status: 200 })
  assert.equal(await new Outbox(store, call, log, policy, 'me').drain(['email']), 2)
  assert.deepEqual(marks[0], ['claimDue', ['email'], 'me', policy.leaseMs, policy.batch])
  assert.equal(calls.length, 2)
  assert.deepEqual(marks.slice(1).sort(), [['markDelivered', 1], ['markDelivered', 2]])
})

test('the delivery loop: the union of the served services, one pass at a time, stopped when nothing is served', async () => {
  const seen: string[][] = []
  let running = 0
  let overlapped = false
  const dispatcher = new OutboxDispatcher(
    async (services) => {
      overlapped ||= running > 0
      running += 1
      seen.push([...services])
      await sleep(15)
      running -= 1
      return 0
    },
    log,
    { pollMs: 5, batch: 8 },
  )
  const releaseA = dispatcher.serve(['email', 'sms'])
  const releaseB = dispatcher.serve(['email'])
  await sleep(80)
  assert.deepEqual(seen[0], ['email', 'sms'])
  assert.ok(seen.length >= 2, `${seen.length} passes`)
  assert.equal(overlapped, false, 'passes never overlap')
  releaseA()
  releaseA() // twice is once
  assert.deepEqual(dispatcher.services, ['email'])
  releaseB()
  assert.deepEqual(dispatcher.services, [])
  await sleep(30)
  const passes = seen.length
  await sleep(40)
  assert.equal(seen.length, passes, 'no pass without services')
  await dispatcher.close()
})

test('the delivery loop goes again at once after a full batch, and keeps polling after an error', async () => {
  const at: number[] = []
  const dispatcher = new OutboxDispatcher(
    async () => {
      at.push(Date.now())
      if (at.length === 2) throw new Error('database down')
      return at.length === 1 ? 8 : 0
    },
    log,
    { pollMs: 300, batch: 8 },
  )
  const release = dispatcher.serve(['email'])
  while (at.length < 3) await sleep(10)
  assert.ok(at[1]! - at[0]! < 200, `after a full batch: ${at[1]! - at[0]!} ms`)
  assert.ok(at[2]! - at[1]! >= 290, `after an error: ${at[2]! - at[1]!} ms`)
  release()
  await dispatcher.close()
})

test('one outbox and one delivery loop per process, backends and app, however many tasks', async () => {
  const backends = { databaseUrl: 'postgres://nobody@127.0.0.1:1/none', consulDns: '127.0.0.1:1' }
  const call = stubCall({ status: 200 }).call
  const a = acquireOutbox(backends, 'shop', ['email'], call, log)
  const b = acquireOutbox(backends, 'shop', ['email', 'sms'], call, log)
  const other = acquireOutbox({ ...backends, consulDns: '127.0.0.1:2' }, 'shop', ['email'], call, log)
  const otherApp = acquireOutbox(backends, 'blog', ['email'], call, log)
  assert.equal(a.outbox, b.outbox)
  assert.notEqual(a.outbox, other.outbox)
  assert.notEqual(a.outbox, otherApp.outbox, "another app's calls are another loop's")
  await Promise.all([a.release(), b.release(), other.release(), otherApp.release()])
  const again = acquireOutbox(backends, 'shop', ['email'], call, log)
  assert.notEqual(again.outbox, a.outbox, 'the last release closed it; the next task starts a new one')
  await again.release()
})
