// The outbox's SQL on the cloud's PostgreSQL: claims are exclusive (FOR UPDATE
// SKIP LOCKED), leases bring a dead claimer's rows back, and marking a row
// settles its request_logs row. Each test uses a service name of its own, so
// no running delivery loop claims its rows. The store works as the services
// do: as lean_writer, for one app (rows-per-app.test.ts attacks that).
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import pg from 'pg'
import { appDatabase } from '../../../task-driver/capabilities/as-app.ts'
import { pgOutboxStore, type NewOutboxEntry } from '../../../task-driver/capabilities/outbox-store.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

const entry = (service: string, requestId?: string): NewOutboxEntry => ({
  service,
  request: { method: 'POST', path: 'send', headers: { 'content-type': 'application/json', 'idempotency-key': requestId ?? 'k' }, body: Buffer.from('{"to":"a@b.co"}') },
  ...(requestId !== undefined && { requestId, deliveredStatus: 'emailed' }),
  maxAttempts: 3,
})

test('the outbox table: exclusive claims, leases, backoff and settled request_logs rows', async (t) => {
  const { env } = await useCloud()
  const db = new pg.Pool({ connectionString: env.DATABASE_URL, max: 6 })
  const writer = new pg.Pool({ connectionString: env.DATABASE_WRITER_URL, max: 6 })
  const app = uniqueName('outbox-app')
  const services: string[] = []
  const service = () => {
    const name = uniqueName('outbox-svc')
    services.push(name)
    return name
  }
  t.after(async () => {
    await db.query('DELETE FROM outbox WHERE service = ANY($1::text[])', [services])
    await db.query(`DELETE FROM request_logs WHERE app = $1`, [app])
    await Promise.all([db.end(), writer.end()])
  })
  const store = pgOutboxStore(appDatabase(writer, app))
  const outboxRow = async (id: number) => (await db.query('SELECT status, attempts, claimed_by, last_error, next_attempt_at > now() AS later FROM outbox WHERE id = $1', [id])).rows[0]
  const logRow = async (requestId: string) => (await db.query('SELECT status, error FROM request_logs WHERE app = $1 AND request_id = $2', [app, requestId])).rows[0]
  const logged = async (requestId: string) =>
    db.query(`INSERT INTO request_logs (app, request_id, request_text, status) VALUES ($1, $2, 'x', 'email_pending')`, [app, requestId])

  await t.test('a new row is claimed by its writer for the first attempt; one row per request and service', async () => {
    const name = service()
    const requestId = uniqueName('outbox-req')
    const row = await store.insertClaimed(entry(name, requestId), 'writer', 60_000)
    assert.ok(row)
    assert.equal(row.attempts, 1)
    assert.deepEqual(row.request.headers, { 'content-type': 'application/json', 'idempotency-key': requestId })
    assert.deepEqual(row.request.body, Buffer.from('{"to":"a@b.co"}'))
    assert.equal((await outboxRow(row.id)).claimed_by, 'writer')
    assert.deepEqual(await store.claimDue([name], 'other', 60_000, 10), [], 'a leased row is not claimed again')
    assert.equal(await store.insertClaimed(entry(name, requestId), 'writer', 60_000), undefined)
  })

  await t.test('a failed attempt gives the claim back and the row is due after the delay; only the claimer may do that', async () => {
    const name = service()
    const row = (await store.insertClaimed(entry(name), 'writer', 60_000))!
    assert.equal(await store.retryLater(row.id, 'someone-else', 0, 'x'), false)
    assert.equal(await store.retryLater(row.id, 'writer', 300, 'service email has no passing instances'), true)
    assert.deepEqual(await outboxRow(row.id), { status: 'pending', attempts: 1, claimed_by: null, last_error: 'service email has no passing instances', later: true })
    assert.deepEqual(await store.claimDue([name], 'loop', 60_000, 10), [], 'not before the delay')
    await sleep(350)
    const [again] = await store.claimDue([name], 'loop', 60_000, 10)
    assert.equal(again?.id, row.id)
    assert.equal(again?.attempts, 2)
  })

  await t.test('concurrent claimers get disjoint rows, and together all of them', async () => {
    const name = service()
    const ids = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const row = (await store.insertClaimed(entry(name), 'writer', 60_000))!
      await store.retryLater(row.id, 'writer', 0, 'down')
      ids.add(row.id)
    }
    const claims = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((claimer) => store.claimDue([name], claimer, 60_000, 6)))
    const claimed = claims.flat().map((r) => r.id)
    assert.equal(new Set(claimed).size, claimed.length, 'no row is claimed twice')
    const rest = await store.claimDue([name], 'f', 60_000, 20)
    assert.deepEqual(new Set([...claimed, ...rest.map((r) => r.id)]), ids)
  })

  await t.test('a row locked by another transaction is skipped, not waited for', async () => {
    const name = service()
    const first = (await store.insertClaimed(entry(name), 'writer', 60_000))!
    const second = (await store.insertClaimed(entry(name), 'writer', 60_000))!
    for (const r of [first, second]) await store.retryLater(r.id, 'writer', 0, 'down')
    const holder = await db.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT id FROM outbox WHERE id = $1 FOR UPDATE', [first.id])
      const started = Date.now()
      const claimed = await store.claimDue([name], 'loop', 60_000, 10)
      assert.deepEqual(claimed.map((r) => r.id), [second.id])
      assert.ok(Date.now() - started < 2000)
    } finally {
      await holder.query('ROLLBACK')
      holder.release()
    }
  })

  await t.test('a claimer that dies gives its rows back when the lease runs out', async () => {
    const name = service()
    const row = (await store.insertClaimed(entry(name), 'crashed', 300))!
    assert.deepEqual(await store.claimDue([name], 'survivor', 60_000, 10), [])
    await sleep(350)
    const [taken] = await store.claimDue([name], 'survivor', 60_000, 10)
    assert.equal(taken?.id, row.id)
    assert.equal(taken?.attempts, 2, 'the interrupted attempt counts')
    assert.equal(await store.markFailed(row.id, 'crashed', 'late'), false, 'the old claimer can no longer settle it')
  })

  await t.test('delivered: the row and its request_logs row say so, once', async () => {
    const name = service()
    const requestId = uniqueName('outbox-req')
    await logged(requestId)
    const row = (await store.insertClaimed(entry(name, requestId), 'writer', 60_000))!
    assert.equal(await store.markDelivered(row.id), true)
    assert.equal((await outboxRow(row.id)).status, 'delivered')
    assert.deepEqual(await logRow(requestId), { status: 'emailed', error: null })
    assert.equal(await store.markDelivered(row.id), false)
  })

  await t.test('given up: the row and its request_logs row say failed, with the reason', async () => {
    const name = service()
    const requestId = uniqueName('outbox-req')
    await logged(requestId)
    const row = (await store.insertClaimed(entry(name, requestId), 'writer', 60_000))!
    assert.equal(await store.markFailed(row.id, 'writer', 'email call given up after 3 attempts: down'), true)
    assert.equal((await outboxRow(row.id)).status, 'failed')
    assert.deepEqual(await logRow(requestId), { status: 'failed', error: 'email call given up after 3 attempts: down' })
    assert.deepEqual(await store.claimDue([name], 'loop', 60_000, 10), [])
  })
})
