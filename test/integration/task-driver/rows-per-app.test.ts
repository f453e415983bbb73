// Rows per app on the cloud's PostgreSQL, attacked as the services' role
// (lean_writer): naming app b, none of app a's request_logs, outbox or
// mail_sends rows can be read, changed or forged; naming no app, no row at
// all; and the services' own code run as app b (outbox store and loop,
// mail-once) neither settles, claims nor holds back app a's work when both use
// the same request id, service and idempotency key.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import pg from 'pg'
import pino from 'pino'
import { appDatabase, asApp } from '../../../task-driver/capabilities/as-app.ts'
import { sendOnce } from '../../../task-driver/capabilities/mail-once.ts'
import { defaultOutboxPolicy } from '../../../task-driver/capabilities/outbox.ts'
import { acquireOutbox } from '../../../task-driver/capabilities/outbox-dispatcher.ts'
import { pgOutboxStore, type NewOutboxEntry } from '../../../task-driver/capabilities/outbox-store.ts'
import { insertRequestLog } from '../../../task-driver/capabilities/request-log.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

const log = pino({ level: 'silent' })
const RLS_REFUSAL = /new row violates row-level security policy/

const call = (service: string, requestId: string): NewOutboxEntry => ({
  service,
  request: {
    method: 'POST',
    path: 'send',
    headers: { 'idempotency-key': requestId },
    body: Buffer.from('{}'),
  },
  requestId,
  deliveredStatus: 'emailed',
  maxAttempts: 5,
})

test('an app reaches only its own request log, outbox and mail rows', async (t) => {
  const { env } = await useCloud()
  const owner = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 })
  const writer = new pg.Pool({ connectionString: env.DATABASE_WRITER_URL, max: 4 })
  const [a, b] = [uniqueName('app-a'), uniqueName('app-b')]
  // Rows from before 004_rows_per_app.sql have app '': no app reaches them either.
  const legacyId = uniqueName('legacy-req')
  t.after(async () => {
    for (const table of ['request_logs', 'outbox', 'mail_sends'])
      await owner.query(`DELETE FROM ${table} WHERE app = ANY($1::text[])`, [[a, b]])
    await owner.query(`DELETE FROM request_logs WHERE app = '' AND request_id = $1`, [legacyId])
    await Promise.all([owner.end(), writer.end()])
  })
  await owner.query(
    `INSERT INTO request_logs (app, request_id, request_text, status) VALUES ('', $1, 'from before', 'stored')`,
    [legacyId],
  )
  const [dbA, dbB] = [appDatabase(writer, a), appDatabase(writer, b)]
  const [storeA, storeB] = [pgOutboxStore(dbA), pgOutboxStore(dbB)]
  const logRow = async (app: string, requestId: string) =>
    (
      await owner.query('SELECT status, error FROM request_logs WHERE app = $1 AND request_id = $2', [
        app,
        requestId,
      ])
    ).rows[0]
  const outboxRow = async (id: number) =>
    (await owner.query('SELECT app, status, attempts FROM outbox WHERE id = $1', [id])).rows[0]

  // App a's rows, written as the services write them.
  const requestId = uniqueName('shared-req')
  const service = uniqueName('rows-svc')
  const key = uniqueName('shared-key')
  await insertRequestLog(dbA, { request_id: requestId, request_text: 'a', status: 'email_pending' })
  const rowA = (await storeA.insertClaimed(call(service, requestId), 'a-writer', 60_000))!
  assert.ok(rowA)
  await dbA.query(
    `INSERT INTO mail_sends (app, idempotency_key, recipient, status, message_id) VALUES ($1, $2, 'x@example.com', 'sent', 'm')`,
    [a, key],
  )

  await t.test(
    'lean_writer owns none of the tables, bypasses nothing, and row-level security is on for each',
    async () => {
      const { rows } = await owner.query<{ table: string; rls: boolean; writer_owns: boolean }>(
        `SELECT relname AS table, relrowsecurity AS rls, pg_has_role('lean_writer', relowner, 'USAGE') AS writer_owns
       FROM pg_class WHERE relname = ANY($1::text[]) AND relkind = 'r' ORDER BY relname`,
        [['mail_sends', 'outbox', 'request_logs']],
      )
      assert.deepEqual(
        rows,
        ['mail_sends', 'outbox', 'request_logs'].map((table) => ({ table, rls: true, writer_owns: false })),
      )
      const role = (
        await owner.query(`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'lean_writer'`)
      ).rows[0]
      assert.deepEqual(role, { rolsuper: false, rolbypassrls: false })
    },
  )

  await t.test(
    "as app b, app a's rows are invisible, updating them changes no row, and a row naming app a is refused",
    async () => {
      await asApp(writer, b, async (db) => {
        assert.deepEqual(
          (await db.query('SELECT id FROM request_logs WHERE request_id = $1', [requestId])).rows,
          [],
        )
        assert.deepEqual(
          (await db.query('SELECT id FROM outbox WHERE id = $1 OR request_id = $2', [rowA.id, requestId]))
            .rows,
          [],
        )
        assert.deepEqual(
          (await db.query('SELECT status FROM mail_sends WHERE idempotency_key = $1', [key])).rows,
          [],
        )
        assert.deepEqual(
          (
            await db.query(`UPDATE request_logs SET status = 'failed' WHERE request_id = $1 RETURNING id`, [
              requestId,
            ])
          ).rows,
          [],
        )
        assert.deepEqual(
          (
            await db.query(
              `UPDATE outbox SET status = 'failed', service = 'elsewhere' WHERE id = $1 RETURNING id`,
              [rowA.id],
            )
          ).rows,
          [],
        )
        assert.deepEqual(
          (
            await db.query(
              `UPDATE mail_sends SET status = 'sending' WHERE idempotency_key = $1 RETURNING 1`,
              [key],
            )
          ).rows,
          [],
        )
        assert.deepEqual(
          (await db.query(`DELETE FROM mail_sends WHERE idempotency_key = $1 RETURNING 1`, [key])).rows,
          [],
        )
      })
      const forged = [
        [
          `INSERT INTO request_logs (app, request_id, request_text, status) VALUES ($1, $2, 'forged', 'stored')`,
          [a, uniqueName('forged')],
        ],
        [
          `INSERT INTO outbox (app, service, method, path, body, max_attempts) VALUES ($1, $2, 'POST', 'send', '\\x', 1)`,
          [a, service],
        ],
        [
          `INSERT INTO mail_sends (app, idempotency_key, recipient, status, message_id) VALUES ($1, $2, 'y@example.com', 'sent', 'm')`,
          [a, key],
        ],
      ] as const
      for (const [sql, values] of forged)
        await assert.rejects(
          asApp(writer, b, (db) => db.query(sql, [...values])),
          RLS_REFUSAL,
          sql,
        )
      // Nor may b move its own row over to a.
      await insertRequestLog(dbB, { request_id: requestId, request_text: 'b', status: 'stored' })
      await assert.rejects(
        dbB.query(`UPDATE request_logs SET app = $1 WHERE request_id = $2`, [a, requestId]),
        RLS_REFUSAL,
      )
      assert.deepEqual(await logRow(a, requestId), { status: 'email_pending', error: null })
      assert.deepEqual(await outboxRow(rowA.id), { app: a, status: 'pending', attempts: 1 })
      assert.equal(
        (await owner.query('SELECT status FROM mail_sends WHERE app = $1 AND idempotency_key = $2', [a, key]))
          .rows[0]?.status,
        'sent',
      )
    },
  )

  await t.test(
    'naming no app, lean_writer reaches no row: on a fresh connection, and after a transaction that named one',
    async () => {
      const client = await writer.connect()
      try {
        const visible = async () => {
          const counts = await Promise.all(
            ['request_logs', 'outbox', 'mail_sends'].map(
              async (table) =>
                (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n,
            ),
          )
          return counts.reduce((x, y) => x + y)
        }
        assert.equal(await visible(), 0, 'lean.app never set')
        await client.query('BEGIN')
        await client.query(`SELECT set_config('lean.app', $1, true)`, [a])
        assert.ok((await visible()) >= 3, "inside app a's transaction, app a's rows")
        await client.query('COMMIT')
        assert.equal(
          (await client.query(`SELECT current_setting('lean.app', true) AS app`)).rows[0].app,
          '',
          'what the connection reads now',
        )
        assert.equal(await visible(), 0, "lean.app back to '' (the legacy rows' app): still none")
        for (const app of [a, '']) {
          await assert.rejects(
            client.query(
              `INSERT INTO request_logs (app, request_id, request_text, status) VALUES ($1, $2, 'x', 'stored')`,
              [app, uniqueName('no-app')],
            ),
            RLS_REFUSAL,
          )
        }
      } finally {
        client.release()
      }
      assert.equal(
        await asApp(
          writer,
          '',
          async (db) =>
            (await db.query('SELECT id FROM request_logs WHERE request_id = $1', [legacyId])).rows.length,
        ),
        0,
        "naming app '' reaches nothing",
      )
    },
  )

  await t.test(
    'two apps with the same request id and service each settle only their own request_logs row',
    async () => {
      const shared = uniqueName('settle-req')
      await insertRequestLog(dbA, { request_id: shared, request_text: 'a', status: 'email_pending' })
      await insertRequestLog(dbB, { request_id: shared, request_text: 'b', status: 'email_pending' })
      const ownA = (await storeA.insertClaimed(call(service, shared), 'a-writer', 60_000))!
      const ownB = (await storeB.insertClaimed(call(service, shared), 'b-writer', 60_000))!
      assert.ok(ownA && ownB, 'the same request id and service, once per app')
      assert.equal(await storeB.markDelivered(ownA.id), false, "b cannot mark a's row by its id")
      assert.equal(await storeB.markFailed(ownA.id, 'a-writer', 'b says so'), false)
      assert.deepEqual(await logRow(a, shared), { status: 'email_pending', error: null })
      assert.equal(await storeA.markDelivered(ownA.id), true)
      assert.deepEqual(await logRow(a, shared), { status: 'emailed', error: null })
      assert.deepEqual(
        await logRow(b, shared),
        { status: 'email_pending', error: null },
        "a's delivery leaves b's row alone",
      )
      assert.equal(await storeB.markFailed(ownB.id, 'b-writer', 'down'), true)
      assert.deepEqual(await logRow(b, shared), { status: 'failed', error: 'down' })
      assert.deepEqual(
        await logRow(a, shared),
        { status: 'emailed', error: null },
        "b's failure leaves a's row alone",
      )
    },
  )

  await t.test(
    "app b's delivery loop never claims app a's due row to the same service; it delivers its own",
    async () => {
      const loopService = uniqueName('loop-svc')
      const dueA = (await storeA.insertClaimed(
        call(loopService, uniqueName('loop-req')),
        'a-writer',
        60_000,
      ))!
      assert.equal(await storeA.retryLater(dueA.id, 'a-writer', 0, 'down'), true)
      assert.deepEqual(
        await storeB.claimDue([loopService], 'b-loop', 60_000, 10),
        [],
        'b claims nothing of a',
      )
      const dueB = (await storeB.insertClaimed(
        call(loopService, uniqueName('loop-req')),
        'b-writer',
        60_000,
      ))!
      assert.equal(await storeB.retryLater(dueB.id, 'b-writer', 0, 'down'), true)
      const reached: string[] = []
      const lease = acquireOutbox(
        { databaseUrl: env.DATABASE_WRITER_URL!, consulDns: '127.0.0.1:1' },
        b,
        [loopService],
        async (_service, request) => {
          reached.push(String(request.headers?.['idempotency-key']))
          return { status: 200, contentType: 'text/plain', body: Buffer.from('ok') }
        },
        log,
        { ...defaultOutboxPolicy, pollMs: 100 },
      )
      try {
        for (let i = 0; i < 100 && (await outboxRow(dueB.id)).status !== 'delivered'; i++) await sleep(100)
        assert.equal((await outboxRow(dueB.id)).status, 'delivered', "b's loop delivers b's row")
        await sleep(500) // a few more passes
      } finally {
        await lease.release()
      }
      assert.deepEqual(reached, [dueB.requestId])
      assert.deepEqual(
        await outboxRow(dueA.id),
        { app: a, status: 'pending', attempts: 1 },
        "a's row was never claimed",
      )
      const [taken] = await storeA.claimDue([loopService], 'a-loop', 60_000, 10)
      assert.equal(taken?.id, dueA.id, "a's own loop claims it")
    },
  )

  await t.test(
    "app b taking an idempotency key first does not hold back app a's mail with the same key",
    async () => {
      const mailKey = uniqueName('mail-key')
      const message = {
        to: 'ops@example.com',
        subject: 's',
        text: 't',
        attachments: [],
        idempotencyKey: mailKey,
      }
      const sends: string[] = []
      const send = (app: string) => async () => {
        sends.push(app)
        return { messageId: `<${app}@example.com>`, accepted: [message.to] }
      }
      const first = await sendOnce(dbB, message, '<b@example.com>', send(b), log)
      assert.equal(first.duplicate, false)
      const ofA = await sendOnce(dbA, message, '<a@example.com>', send(a), log)
      assert.deepEqual([ofA.duplicate, ofA.messageId], [false, `<${a}@example.com>`], "a's message is sent")
      const again = await sendOnce(dbA, message, '<a@example.com>', send(a), log)
      assert.deepEqual(
        [again.duplicate, again.messageId],
        [true, '<a@example.com>'],
        "a's key still holds back a's own repeat",
      )
      assert.deepEqual(sends, [b, a])
    },
  )
})
