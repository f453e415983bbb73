// The mail capability: components describe a message (attachments by S3
// object, never inline credentials or sockets) and the runner sends it over
// SMTP with nodemailer, which cannot run inside a component, over STARTTLS only.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createTransport, type Transporter } from 'nodemailer'
import { Refusal } from './capability-refusal.ts'

export interface SmtpRelay {
  readonly host: string
  readonly port: number
  /** The From header of every message. */
  readonly from: string
  /** A PEM file of the CAs the relay's STARTTLS certificate must chain to (the cloud's own); absent: the system's roots. */
  readonly caFile?: string
}

/**
 * nodemailer's settings for `relay`: STARTTLS required (a relay that does not
 * offer it is refused before any address or message is sent), the certificate
 * verified against the relay's CA file or the system's roots; no auth.
 */
export function smtpTransportOptions(relay: Pick<SmtpRelay, 'host' | 'port' | 'caFile'>) {
  return {
    host: relay.host,
    port: relay.port,
    secure: false,
    requireTLS: true,
    // rejectUnauthorized stays at its default (true): only the trusted CAs change.
    ...(relay.caFile !== undefined && { tls: { ca: readFileSync(relay.caFile, 'utf8') } }),
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 30_000,
  }
}

export interface MailRequest {
  readonly to: string
  readonly subject: string
  readonly text: string
  readonly attachments: ReadonlyArray<{ readonly filename: string; readonly bucket: string; readonly key: string; readonly contentType?: string }>
  /** One message per key and recipient (see mail-once.ts); it also fixes the Message-ID. */
  readonly idempotencyKey?: string
}

// Deliberately plain: one @, no spaces, a dot in the domain. SMTP decides the rest.
const ADDRESS = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/

/**
 * Whether a grant's recipients cover `to`: an address it names, or any address
 * at a domain it names (not at its subdomains). Case does not matter.
 */
export function mayMail(recipients: readonly string[], to: string): boolean {
  const address = to.trim().toLowerCase()
  const domain = address.slice(address.lastIndexOf('@') + 1)
  return recipients.some((r) => r === address || (!r.includes('@') && r === domain))
}

/** Checks a guest's JSON message; each problem names the field. */
export function parseMailRequest(raw: unknown): MailRequest {
  const bad = (field: string, reason: string): never => {
    throw new Refusal(400, `${field}: ${reason}`, 'LEAN_ERR_CAPABILITY_REQUEST')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('body', 'expected a JSON object')
  const m = raw as Record<string, unknown>
  if (typeof m.to !== 'string' || !ADDRESS.test(m.to)) bad('to', 'expected one e-mail address')
  if (typeof m.subject !== 'string' || m.subject.length > 998) bad('subject', 'expected a string of at most 998 characters')
  if (typeof m.text !== 'string') bad('text', 'expected a string')
  const key = m.idempotency_key
  if (key !== undefined && (typeof key !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(key))) bad('idempotency_key', 'expected 1 to 200 printable ASCII characters')
  const attachments = m.attachments ?? []
  if (!Array.isArray(attachments)) return bad('attachments', 'expected a list')
  const parsed = attachments.map((a: unknown, i) => {
    const x = (typeof a === 'object' && a !== null ? a : {}) as Record<string, unknown>
    for (const field of ['filename', 'bucket', 'key']) if (typeof x[field] !== 'string' || x[field] === '') bad(`attachments[${i}].${field}`, 'expected a non-empty string')
    if (x.content_type !== undefined && typeof x.content_type !== 'string') bad(`attachments[${i}].content_type`, 'expected a string')
    return {
      filename: x.filename as string,
      bucket: x.bucket as string,
      key: x.key as string,
      ...(typeof x.content_type === 'string' && { contentType: x.content_type }),
    }
  })
  return { to: m.to as string, subject: m.subject as string, text: m.text as string, attachments: parsed, ...(typeof key === 'string' && { idempotencyKey: key }) }
}

/** The Message-ID of a message sent with an idempotency key: a repeat carries the same one, so mail clients can tell. */
export function idempotentMessageId(key: string, to: string, from: string): string {
  const domain = /@([^\s>]+)>?\s*$/.exec(from)?.[1] ?? 'lean-cloud.localhost'
  return `<${createHash('sha256').update(`${key}\n${to}`).digest('hex').slice(0, 40)}.once@${domain}>`
}

export class Mailer {
  readonly #relay: SmtpRelay
  readonly #transport: Transporter

  constructor(relay: SmtpRelay) {
    this.#relay = relay
    this.#transport = createTransport(smtpTransportOptions(relay))
  }

  /** Sends the message; `load` fetches each attachment's bytes (and enforces bucket grants). */
  async send(message: MailRequest, load: (bucket: string, key: string) => Promise<Buffer>): Promise<{ messageId: string; accepted: string[] }> {
    const attachments = await Promise.all(
      message.attachments.map(async (a) => ({ filename: a.filename, content: await load(a.bucket, a.key), ...(a.contentType && { contentType: a.contentType }) })),
    )
    try {
      const info = await this.#transport.sendMail({
        from: this.#relay.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        attachments,
        ...(message.idempotencyKey !== undefined && { messageId: this.messageIdFor(message.idempotencyKey, message.to) }),
      })
      return { messageId: info.messageId, accepted: info.accepted.map(String) }
    } catch (err) {
      throw new Refusal(502, `SMTP ${this.#relay.host}:${this.#relay.port}: ${(err as Error).message}`, 'LEAN_ERR_CAPABILITY_BACKEND')
    }
  }

  messageIdFor(idempotencyKey: string, to: string): string {
    return idempotentMessageId(idempotencyKey, to, this.#relay.from)
  }

  close(): void {
    this.#transport.close()
  }
}
