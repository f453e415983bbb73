// The PDF service's request handling, independent of where it runs: the
// component wires it to the runner's capability API, the Node twin to
// minio/pg clients. `POST /` with `{ text, email? }`:
//   validate -> render -> store (private, with a link) -> request_logs row -> email.
// Storage down: 503 and a `failed` row, nothing stored. Log down: the stored
// PDF is removed again, 503. Email worker down: the PDF is kept, the answer
// says `email_pending`, and the runner keeps retrying the send.
import { UndrawableTextError } from './render-pdf.ts'
import { isEmailAddress, jsonObject, isReply, newId, pdfKey, reply, type Reply } from '../../shared/fields.ts'

export interface PdfSettings {
  readonly bucket: string
  /** Largest accepted `text`, in UTF-8 bytes. */
  readonly maxTextBytes: number
  /** Lifetime of the presigned link. */
  readonly linkSeconds: number
  /** Consul name of the email worker. */
  readonly emailService: string
}

export const defaultPdfSettings: PdfSettings = { bucket: 'cloud-pdfs', maxTextBytes: 1024 * 1024, linkSeconds: 3600, emailService: 'email' }

/** Reads settings from environment variables, once at start; bad values are named. */
export function pdfSettingsFrom(env: (name: string) => string | undefined): PdfSettings {
  const int = (name: string, fallback: number, min: number) => {
    const raw = env(name)
    if (raw === undefined || raw === '') return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected a whole number of at least ${min}, got ${raw}`)
    return n
  }
  return {
    bucket: env('PDF_BUCKET') || defaultPdfSettings.bucket,
    maxTextBytes: int('PDF_MAX_TEXT_BYTES', defaultPdfSettings.maxTextBytes, 1),
    linkSeconds: int('PDF_LINK_SECONDS', defaultPdfSettings.linkSeconds, 1),
    emailService: env('EMAIL_SERVICE') || defaultPdfSettings.emailService,
  }
}

export interface RequestLogRow {
  readonly request_id: string
  readonly client_ip: string | null
  readonly request_text: string
  readonly pdf_object_key: string | null
  readonly status: 'stored' | 'emailed' | 'email_pending' | 'failed'
  readonly error: string | null
}

export type EmailOutcome = { delivered: true } | { delivered: false; final: boolean; reason: string }

export interface PdfBackends {
  render(text: string): Promise<Uint8Array>
  /** Stores the object, private, and answers a GET link valid for `linkSeconds`. */
  storeObject(bucket: string, key: string, bytes: Uint8Array, contentType: string, linkSeconds: number): Promise<string>
  deleteObject(bucket: string, key: string): Promise<void>
  logRequest(row: RequestLogRow): Promise<void>
  /** Asks the email worker to send the file now; if it cannot, the send is retried in the background and the row updated. */
  requestEmail(service: string, to: string, fileId: string, requestId: string): Promise<EmailOutcome>
}

interface PdfRequest {
  readonly text: string
  readonly email?: string
}

export function parsePdfRequest(raw: string, settings: PdfSettings): PdfRequest | Reply {
  const body = jsonObject(raw)
  if (isReply(body)) return body
  if (body.text === undefined) return reply(400, { error: 'text: required', field: 'text' })
  if (typeof body.text !== 'string') return reply(400, { error: 'text: expected a string', field: 'text' })
  if (body.text.trim() === '') return reply(400, { error: 'text: must not be empty', field: 'text' })
  const bytes = new TextEncoder().encode(body.text).length
  if (bytes > settings.maxTextBytes) {
    return reply(413, { error: `text: ${bytes} bytes is over the limit of ${settings.maxTextBytes}`, field: 'text' })
  }
  if (body.email !== undefined && (typeof body.email !== 'string' || !isEmailAddress(body.email))) {
    return reply(400, { error: 'email: expected one e-mail address such as name@example.com', field: 'email' })
  }
  return { text: body.text, ...(body.email !== undefined && { email: body.email as string }) }
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err))

export async function createPdf(raw: string, clientIp: string | undefined, settings: PdfSettings, backends: PdfBackends): Promise<Reply> {
  const request = parsePdfRequest(raw, settings)
  if (isReply(request)) return request
  const requestId = newId()
  const fileId = newId()
  const key = pdfKey(fileId)
  const row = { request_id: requestId, client_ip: clientIp ?? null, request_text: request.text }

  let bytes: Uint8Array
  try {
    bytes = await backends.render(request.text)
  } catch (err) {
    // Text the bundled fonts cannot draw is refused, never stored as empty boxes.
    if (err instanceof UndrawableTextError) return reply(422, { error: err.message, field: 'text', characters: err.characters })
    throw err
  }
  let url: string
  try {
    url = await backends.storeObject(settings.bucket, key, bytes, 'application/pdf', settings.linkSeconds)
  } catch (err) {
    const error = `storage unavailable: ${reason(err)}`
    // Best effort: the row records the failure if the database is up.
    await backends.logRequest({ ...row, pdf_object_key: null, status: 'failed', error }).catch(() => {})
    return reply(503, { error, request_id: requestId })
  }

  try {
    await backends.logRequest({ ...row, pdf_object_key: key, status: request.email ? 'email_pending' : 'stored', error: null })
  } catch (err) {
    await backends.deleteObject(settings.bucket, key).catch(() => {})
    return reply(503, { error: `request log unavailable: ${reason(err)}`, request_id: requestId })
  }

  let status = 'stored'
  let email: Record<string, unknown> | undefined
  if (request.email) {
    const outcome = await backends.requestEmail(settings.emailService, request.email, fileId, requestId).catch(
      (err): EmailOutcome => ({ delivered: false, final: false, reason: reason(err) }),
    )
    if (outcome.delivered) status = 'emailed'
    else if (outcome.final) return reply(502, { error: `email refused: ${outcome.reason}`, request_id: requestId, file_id: fileId })
    else {
      status = 'email_pending'
      email = { pending: true, reason: outcome.reason }
    }
  }

  return reply(200, { status, file_id: fileId, url, request_id: requestId, ...(email && { email }) })
}
