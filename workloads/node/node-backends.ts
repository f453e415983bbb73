// Backends for the plain Node twins: the same services as the components,
// wired straight to S3 (minio), PostgreSQL (pg), Consul DNS and SMTP
// (nodemailer) instead of the runner's capability API. Used to compare the
// wasm driver against plain Node, and to run the services without Nomad.
// Their rows are those of the app they run as, like a task's (as-app.ts).
import pg from 'pg'
import type { Logger } from 'pino'
import { appDatabase } from '../../task-driver/capabilities/as-app.ts'
import { s3AccessFromEnv, s3Client } from '../../ground/s3-client.ts'
import { Mailer } from '../../task-driver/capabilities/mail-capability.ts'
import { acquireOutbox, type OutboxLease } from '../../task-driver/capabilities/outbox-dispatcher.ts'
import { insertRequestLog } from '../../task-driver/capabilities/request-log.ts'
import { callService } from '../../task-driver/capabilities/service-call.ts'
import type { EmailBackends } from '../email/src/email-service.ts'
import { MailDeliveryError } from '../email/src/email-service.ts'
import type { PdfBackends } from '../pdf/src/pdf-service.ts'
import { renderPdf } from '../pdf/src/render-pdf.ts'
import { loadBundledFonts } from './bundled-fonts.ts'

/** What the twins read from the environment (cloud.env has all of it). */
export interface TwinEnvironment {
  readonly S3_ENDPOINT: string
  readonly S3_ACCESS_KEY: string
  readonly S3_SECRET_KEY: string
  readonly S3_REGION?: string
  /** The CA the S3 server's certificate chains to (the cloud's). */
  readonly S3_CACERT?: string
  readonly DATABASE_URL?: string
  /** The services' role; preferred over DATABASE_URL (the owner) when set. */
  readonly DATABASE_WRITER_URL?: string
  readonly CONSUL_DNS_ADDR?: string
  readonly SMTP_ADDR?: string
  /** The CA the SMTP server's STARTTLS certificate chains to (the cloud's). */
  readonly SMTP_CACERT?: string
}

export function twinEnvironment(env: Record<string, string | undefined>, needs: readonly (keyof TwinEnvironment)[]): TwinEnvironment {
  const missing = needs.filter((k) => !env[k])
  if (missing.length) throw new Error(`missing environment: ${missing.join(', ')} (source the cloud's cloud.env, or run npm run cloud:up)`)
  return env as unknown as TwinEnvironment
}

/** `app`: the app whose rows the twin writes and settles (the service name it runs as). */
export async function pdfNodeBackends(env: TwinEnvironment, app: string, log: Logger): Promise<PdfBackends & { close(): Promise<void> }> {
  const s3 = s3Client(s3AccessFromEnv(env as unknown as Record<string, string | undefined>, env.S3_ACCESS_KEY, env.S3_SECRET_KEY))
  const databaseUrl = env.DATABASE_WRITER_URL ?? env.DATABASE_URL
  const db = new pg.Pool({ connectionString: databaseUrl, max: 8, connectionTimeoutMillis: 5000 })
  db.on('error', (err) => log.warn({ err: err.message }, 'idle database connection failed'))
  const rows = appDatabase(db, app)
  const fonts = await loadBundledFonts()
  // The same durable outbox as the capability API: this process delivers the rows of the services it calls.
  const outboxes = new Map<string, OutboxLease>()
  const outboxFor = (service: string) => {
    let lease = outboxes.get(service)
    if (!lease) {
      const consulDns = env.CONSUL_DNS_ADDR!
      lease = acquireOutbox({ databaseUrl: databaseUrl!, consulDns }, app, [service], (name, request) => callService(consulDns, name, request), log)
      outboxes.set(service, lease)
    }
    return lease.outbox
  }
  return {
    render: (text) => renderPdf(text, { fonts: () => fonts, title: 'Generated document' }),
    async storeObject(bucket, key, bytes, contentType, linkSeconds) {
      await s3.putObject(bucket, key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength, { 'Content-Type': contentType })
      return s3.presignedGetObject(bucket, key, linkSeconds)
    },
    async deleteObject(bucket, key) {
      await s3.removeObject(bucket, key)
    },
    async logRequest(row) {
      await insertRequestLog(rows, row)
    },
    async requestEmail(service, to, fileId, requestId) {
      const first = await outboxFor(service).submit({
        service,
        request: { method: 'POST', path: 'send', contentType: 'application/json', body: Buffer.from(JSON.stringify({ to, file_id: fileId })) },
        requestId,
        deliveredStatus: 'emailed',
      })
      return first.delivered ? { delivered: true } : { delivered: false, final: first.final, reason: first.reason }
    },
    async close() {
      await Promise.all([...outboxes.values()].map((lease) => lease.release()))
      await db.end()
    },
  }
}

export function emailNodeBackends(env: TwinEnvironment, from: string): EmailBackends & { close(): Promise<void> } {
  const s3 = s3Client(s3AccessFromEnv(env as unknown as Record<string, string | undefined>, env.S3_ACCESS_KEY, env.S3_SECRET_KEY))
  const [host, port] = env.SMTP_ADDR!.split(':')
  const mailer = new Mailer({ host: host!, port: Number(port), from, ...(env.SMTP_CACERT && { caFile: env.SMTP_CACERT }) })
  return {
    objectExists: (bucket, key) =>
      s3.statObject(bucket, key).then(
        () => true,
        (err: Error & { code?: string }) => {
          if (err.code === 'NotFound' || err.code === 'NoSuchKey') return false
          throw err
        },
      ),
    // The idempotency key fixes the Message-ID here; only the capability API (with its database) refuses a repeat.
    async sendMail(mail) {
      const { idempotency_key: idempotencyKey, ...rest } = mail
      try {
        return await mailer.send({ ...rest, attachments: mail.attachments.map((a) => ({ ...a, contentType: a.content_type })), ...(idempotencyKey !== undefined && { idempotencyKey }) }, async (bucket, key) =>
          Buffer.concat(await (await s3.getObject(bucket, key)).toArray()),
        )
      } catch (err) {
        throw new MailDeliveryError((err as Error).message)
      }
    },
    async close() {
      mailer.close()
    },
  }
}
