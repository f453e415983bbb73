// The email worker's request handling, independent of where it runs.
// `POST /send` with `{ to, file_id }`: the PDF must exist in the bucket; it is
// sent as an attachment over SMTP by the host (nodemailer cannot run in a
// component). SMTP failure answers 502 with the reason. An `idempotency-key`
// (the outbox sends the PDF request's id) goes with the mail: the host sends
// one message per key, and a repeat answers the first one's id.
import { isEmailAddress, isFileId, isReply, jsonObject, pdfKey, reply, type Reply } from '../../shared/fields.ts'

export interface EmailSettings {
  readonly bucket: string
  readonly subject: string
}

export const defaultEmailSettings: EmailSettings = { bucket: 'cloud-pdfs', subject: 'Your PDF' }

export function emailSettingsFrom(env: (name: string) => string | undefined): EmailSettings {
  return { bucket: env('PDF_BUCKET') || defaultEmailSettings.bucket, subject: env('EMAIL_SUBJECT') || defaultEmailSettings.subject }
}

export interface OutgoingMail {
  readonly to: string
  readonly subject: string
  readonly text: string
  readonly attachments: ReadonlyArray<{ filename: string; bucket: string; key: string; content_type: string }>
  readonly idempotency_key?: string
}

/** Thrown by backends when the mail could not be handed to SMTP. */
export class MailDeliveryError extends Error {
  constructor(
    message: string,
    /** 502: SMTP refused or failed; 503: no relay configured or reachable, or the same key being sent; 409: the same key may have been sent already. */
    readonly status: 409 | 502 | 503 = 502,
  ) {
    super(message)
    this.name = 'MailDeliveryError'
  }
}

export interface EmailBackends {
  objectExists(bucket: string, key: string): Promise<boolean>
  /** `duplicate`: a message with this idempotency key was sent before, and not again. */
  sendMail(mail: OutgoingMail): Promise<{ messageId: string; duplicate?: boolean }>
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/

export async function sendPdf(raw: string, settings: EmailSettings, backends: EmailBackends, idempotencyKey?: string): Promise<Reply> {
  const body = jsonObject(raw)
  if (isReply(body)) return body
  if (typeof body.to !== 'string' || !isEmailAddress(body.to)) return reply(400, { error: 'to: expected one e-mail address such as name@example.com', field: 'to' })
  if (typeof body.file_id !== 'string' || !isFileId(body.file_id)) return reply(400, { error: 'file_id: expected a file id as returned by the pdf service', field: 'file_id' })
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) return reply(400, { error: 'idempotency-key: expected 1 to 200 printable ASCII characters', field: 'idempotency-key' })
  const key = pdfKey(body.file_id)
  let exists: boolean
  try {
    exists = await backends.objectExists(settings.bucket, key)
  } catch (err) {
    return reply(503, { error: `storage unavailable: ${(err as Error).message}` })
  }
  if (!exists) return reply(404, { error: `file_id: no file ${body.file_id}`, field: 'file_id' })
  try {
    const sent = await backends.sendMail({
      to: body.to,
      subject: settings.subject,
      text: `The PDF you asked for is attached (file id ${body.file_id}).\n`,
      attachments: [{ filename: `${body.file_id}.pdf`, bucket: settings.bucket, key, content_type: 'application/pdf' }],
      ...(idempotencyKey !== undefined && { idempotency_key: idempotencyKey }),
    })
    return reply(200, { status: 'sent', message_id: sent.messageId, ...(sent.duplicate && { duplicate: true }) })
  } catch (err) {
    const status = err instanceof MailDeliveryError ? err.status : 502
    return reply(status, { error: `mail not sent: ${(err as Error).message}` })
  }
}
