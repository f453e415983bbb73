// One message per idempotency key and recipient (table mail_sends): the outbox
// may deliver a call twice (its claimer died between the service's answer and
// the mark), and the email worker passes the call's `idempotency-key` on to
// the mail capability, which sends only the first time.
//
// The key is reserved (`sending`) before SMTP and confirmed (`sent`) after;
// a send that fails releases it, so a later attempt may send. A reservation
// left unconfirmed (the process died mid-send, or the confirm failed) may
// have gone out: it is never sent again (409), so at most once wins over
// at least once in that one window.
//
// Keys are the app's own (as-app.ts): another app that takes the same key
// neither sees this one's reservation nor holds its mail back.
import type { Logger } from 'pino'
import type { AppDatabase } from './as-app.ts'
import { Refusal } from './capability-refusal.ts'
import type { MailRequest } from './mail-capability.ts'

/** A reservation younger than this counts as a send under way (503, try later); SMTP gives up well before. */
export const SEND_UNDER_WAY_MS = 120_000

export type SendOnceResult = { readonly messageId: string; readonly accepted: string[]; readonly duplicate: boolean }

type Reservation = { readonly kind: 'reserved' } | { readonly kind: 'sent'; readonly messageId: string }

async function reserve(db: AppDatabase, key: string, to: string, messageId: string, again = true): Promise<Reservation> {
  const inserted = await db.query(
    `INSERT INTO mail_sends (app, idempotency_key, recipient, status, message_id) VALUES ($1, $2, $3, 'sending', $4)
     ON CONFLICT DO NOTHING RETURNING 1 AS reserved`,
    [db.app, key, to, messageId],
  )
  if (inserted.rows.length === 1) return { kind: 'reserved' }
  const { rows } = await db.query<{ status: string; message_id: string; age_ms: number; created_at: Date }>(
    `SELECT status, message_id, created_at, (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms
     FROM mail_sends WHERE app = $1 AND idempotency_key = $2 AND recipient = $3`,
    [db.app, key, to],
  )
  const row = rows[0]
  // Released by a failed send in between: reserve again, once.
  if (!row) {
    if (again) return reserve(db, key, to, messageId, false)
    throw new Refusal(503, `the message with idempotency key ${key} is being sent; try again later`, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
  }
  if (row.status === 'sent') return { kind: 'sent', messageId: row.message_id }
  if (row.age_ms < SEND_UNDER_WAY_MS) {
    throw new Refusal(503, `the message with idempotency key ${key} is being sent; try again later`, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
  }
  throw new Refusal(
    409,
    `a message to ${to} with idempotency key ${key} was being sent at ${row.created_at.toISOString()} when its sender stopped; it may have gone out, so it is not sent again`,
    'LEAN_ERR_CAPABILITY_CONFLICT',
  )
}

/**
 * Sends `message` unless a message with its idempotency key already went to
 * its recipient (then answers that one's id, `duplicate: true`).
 */
export async function sendOnce(
  db: AppDatabase,
  message: MailRequest & { readonly idempotencyKey: string },
  messageId: string,
  send: () => Promise<{ messageId: string; accepted: string[] }>,
  log: Logger,
): Promise<SendOnceResult> {
  const key = message.idempotencyKey
  const reservation = await reserve(db, key, message.to, messageId)
  if (reservation.kind === 'sent') {
    log.info({ idempotency_key: key, message_id: reservation.messageId }, 'mail already sent with this idempotency key; not sent again')
    return { messageId: reservation.messageId, accepted: [], duplicate: true }
  }
  let sent: { messageId: string; accepted: string[] }
  try {
    sent = await send()
  } catch (err) {
    await db.query(`DELETE FROM mail_sends WHERE app = $1 AND idempotency_key = $2 AND recipient = $3 AND status = 'sending'`, [db.app, key, message.to]).catch((e: Error) =>
      log.error({ idempotency_key: key, err: e.message }, 'could not release a mail reservation after a failed send; it will not be sent again'),
    )
    throw err
  }
  await db.query(`UPDATE mail_sends SET status = 'sent', sent_at = now() WHERE app = $1 AND idempotency_key = $2 AND recipient = $3`, [db.app, key, message.to]).catch((e: Error) =>
    log.error({ idempotency_key: key, err: e.message }, 'mail sent, but not recorded as sent; a repeat is refused, not sent'),
  )
  return { ...sent, duplicate: false }
}
