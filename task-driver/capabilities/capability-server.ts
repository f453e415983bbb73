// The capability API a task's components call instead of holding credentials.
// The runner serves it on loopback with a per-task bearer token; each route is
// open only as far as the task's `grants` allow:
//   GET|PUT|HEAD|DELETE /blob/<bucket>/<key>  objects in a granted bucket (S3 API);
//                                             PUT ?presign=<seconds> also answers a GET link
//   POST /presign/<bucket>/<key>?expires      a time-limited GET link
//   POST /request-log                         a request_logs row (grant request_log)
//   POST /outbox/<name>/<path>                a call written to PostgreSQL's outbox, tried now, then
//                                             retried by the process's delivery loop (outbox.ts), to a
//                                             Consul service the outbound grants name
// (A component calls other services itself, with plain wasi:http, as far as
// its outbound grants allow: the wasmtime host enforces those.)
//   POST /mail                                a message over SMTP (grant mail)
// Host I/O here is ordinary async Node: the guest just awaits `fetch`.
// The request log, outbox and mail rows it writes and reads are its app's
// (as-app.ts): another app's are out of reach even with the same ids.
import { timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { Logger } from 'pino'
import { NO_APP, outboxServices, type Grants } from '../wasm/task-config.ts'
import { appDatabase, type AppDatabase } from './as-app.ts'
import { BodyBudget } from './body-budget.ts'
import { Refusal } from './capability-refusal.ts'
import type { S3Access } from '../wasm/fetch-component.ts'
import { Mailer, mayMail, parseMailRequest, type SmtpRelay } from './mail-capability.ts'
import { sendOnce } from './mail-once.ts'
import type { OutboxPolicy } from './outbox.ts'
import { acquireOutbox, type OutboxLease } from './outbox-dispatcher.ts'
import { lazyPool, type LazyPool } from './pg-pool.ts'
import { insertRequestLog, type RequestLogInsert } from './request-log.ts'
import { callService } from './service-call.ts'

export interface CapabilityBackends {
  /** The fetch-only identity (reads artifacts): s3:// components, never the tasks' buckets. */
  readonly fetchS3?: S3Access
  /** Each granted bucket's own identity: S3 itself refuses it on any other bucket. */
  readonly buckets?: Readonly<Record<string, S3Access>>
  readonly databaseUrl?: string
  /** host:port of Consul's DNS interface, for `<service>.service.consul` SRV lookups. */
  readonly consulDns?: string
  readonly smtp?: SmtpRelay
}

export interface CapabilityServer {
  readonly port: number
  readonly url: string
  readonly authority: string
  close(): Promise<void>
}

const MAX_BODY = 64 * 1024 * 1024

/**
 * A call's whole body, its bytes counted against the task's budget until the
 * response is done (`res` closes).
 */
async function readBody(req: http.IncomingMessage, res: http.ServerResponse, budget: BodyBudget): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  res.once('close', () => budget.give(size))
  for await (const chunk of req) {
    const n = (chunk as Buffer).length
    if (size + n > MAX_BODY) throw new Refusal(413, `body over ${MAX_BODY} bytes`, 'LEAN_ERR_CAPABILITY_REQUEST')
    if (!budget.take(n))
      throw new Refusal(503, `the capability calls under way hold ${budget.limits.bytes} bytes of bodies already; try again`, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
    size += n
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

export interface OutboxSettings {
  /** The process's logger, for the delivery loop that all tasks of this process share; default `log`. */
  readonly log?: Logger
  readonly policy?: OutboxPolicy
}

/** Whose calls the server answers: the task's app and what it is granted. */
export interface CapabilityTask {
  readonly app: string
  readonly grants: Grants
}

export async function startCapabilityServer(
  task: CapabilityTask,
  backends: CapabilityBackends,
  token: string,
  log: Logger,
  outboxSettings: OutboxSettings = {},
  /** A fixed port (a recovered task keeps the one its host was told about); 0: any free one. */
  listenPort = 0,
): Promise<CapabilityServer> {
  const expected = Buffer.from(`Bearer ${token}`)
  const { grants } = task
  // A task recovered from state an earlier version saved names no app: it reaches no rows (NO_APP).
  const app = (task as Partial<CapabilityTask>).app ?? NO_APP
  // A task recovered from state an earlier version saved has no mailTo (its `mail = true` grants nobody).
  const mailTo: readonly string[] = (grants as Partial<Grants>).mailTo ?? []
  // The calls under way and the bytes of their bodies, capped for the task (body-budget.ts).
  const budget = new BodyBudget()
  const s3Clients = new Map<string, import('minio').Client>()
  let pool: LazyPool | undefined
  let mailer: Mailer | undefined

  /** The cloud's database, for the platform's own tables (no grant: the guest never reads them), as the task's app. */
  function platformDatabase(): AppDatabase | undefined {
    if (!backends.databaseUrl) return undefined
    pool ??= lazyPool(backends.databaseUrl, log)
    return appDatabase(pool, app)
  }

  /** Refuses what needs rows of the task's app when the task names none. */
  function ownApp(what: string): void {
    if (app === NO_APP) throw new Refusal(403, `${what} needs the task's app, and its task config names none (app)`)
  }

  async function database() {
    if (!grants.requestLog) throw new Refusal(403, 'the request log is not granted to this task (grants.request_log)')
    ownApp('the request log')
    const db = platformDatabase()
    if (!db) throw new Refusal(503, 'this client has no database settings (plugin config database_url)', 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
    return db
  }

  function consulDns(): string {
    if (!backends.consulDns) throw new Refusal(503, 'this client has no Consul DNS settings (plugin config consul_dns_addr)', 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
    return backends.consulDns
  }

  // The app's outbox delivers only to the Consul services its outbound grants name.
  const services = outboxServices(grants)

  function grantedService(name: string): void {
    if (!services.includes(name)) throw new Refusal(403, `service ${name} is not granted to this task (grants.outbound "http://${name}.service.consul")`)
  }

  // While the task runs, this process's delivery loop of its app also
  // delivers that app's outbox rows to its granted services, whichever task
  // of the app wrote them.
  const { databaseUrl, consulDns: dns } = backends
  const outbox: OutboxLease | undefined =
    services.length > 0 && databaseUrl && dns && app !== NO_APP
      ? acquireOutbox({ databaseUrl, consulDns: dns }, app, services, (service, request) => callService(dns, service, request), outboxSettings.log ?? log, outboxSettings.policy)
      : undefined

  async function s3Client(bucket: string) {
    if (!grants.buckets.includes(bucket)) throw new Refusal(403, `bucket ${bucket} is not granted to this task (grants.buckets)`)
    const access = backends.buckets?.[bucket]
    if (!access) throw new Refusal(503, `this client has no S3 identity for bucket ${bucket} (plugin config s3_bucket "${bucket}")`, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
    let client = s3Clients.get(bucket)
    if (!client) {
      client = (await import('../../ground/s3-client.ts')).s3Client(access)
      s3Clients.set(bucket, client)
    }
    return client
  }

  async function blob(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string, presignSeconds: string | null) {
    const client = await s3Client(bucket)
    if (req.method === 'PUT') {
      // `?presign=<seconds>` also answers a GET link: one round trip fewer for the guest.
      const expires = presignSeconds === null ? undefined : linkSeconds(Number(presignSeconds))
      const data = await readBody(req, res, budget)
      await client.putObject(bucket, key, data, data.length, { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream' })
      const url = expires === undefined ? undefined : await client.presignedGetObject(bucket, key, expires)
      return json(res, 201, { bucket, key, bytes: data.length, ...(url && { url }) })
    }
    if (req.method === 'DELETE') {
      await client.removeObject(bucket, key)
      res.writeHead(204)
      return res.end()
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const stat = await client.statObject(bucket, key).catch(() => undefined)
      if (!stat) throw new Refusal(404, `no object ${key} in ${bucket}`, 'LEAN_ERR_CAPABILITY_NOT_FOUND')
      res.writeHead(200, { 'content-length': stat.size, 'content-type': stat.metaData?.['content-type'] ?? 'application/octet-stream' })
      if (req.method === 'HEAD') return res.end()
      ;(await client.getObject(bucket, key)).pipe(res)
      return
    }
    throw new Refusal(405, `${req.method} is not supported on blobs`, 'LEAN_ERR_CAPABILITY_REQUEST')
  }

  async function requestLog(req: http.IncomingMessage, res: http.ServerResponse) {
    const db = await database()
    const row = parseJson(await readBody(req, res, budget)) as RequestLogInsert & Record<string, unknown>
    for (const field of ['request_id', 'request_text', 'status']) {
      if (typeof row[field] !== 'string') throw new Refusal(400, `${field}: required, a string`, 'LEAN_ERR_CAPABILITY_REQUEST')
    }
    return json(res, 201, { id: await insertRequestLog(db, row) })
  }

  async function defer(req: http.IncomingMessage, res: http.ServerResponse, name: string, path: string) {
    grantedService(name)
    consulDns()
    const requestId = header(req, 'x-lean-request-id')
    const deliveredStatus = header(req, 'x-lean-status-on-delivery')
    if (deliveredStatus !== undefined && !/^[a-z_]{1,32}$/.test(deliveredStatus)) {
      throw new Refusal(400, 'x-lean-status-on-delivery: expected a request_logs status such as emailed', 'LEAN_ERR_CAPABILITY_REQUEST')
    }
    if (requestId !== undefined && !grants.requestLog) throw new Refusal(403, 'x-lean-request-id needs the request log (grants.request_log)')
    ownApp('the outbox')
    if (!outbox) throw new Refusal(503, 'this client has no database settings for the outbox (plugin config database_url)', 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
    const first = await outbox.outbox.submit({
      service: name,
      request: { method: 'POST', path, contentType: req.headers['content-type'] ?? 'application/octet-stream', body: await readBody(req, res, budget) },
      ...(requestId !== undefined && { requestId }),
      ...(deliveredStatus !== undefined && { deliveredStatus }),
    })
    // 200: delivered now (the service's answer follows); 202: queued for retries; 422: refused for good.
    if (first.delivered) {
      res.writeHead(200, { 'content-type': first.response.contentType })
      return res.end(first.response.body)
    }
    return json(res, first.final ? 422 : 202, { queued: !first.final, reason: first.reason, outbox_id: first.outboxId })
  }

  async function mail(req: http.IncomingMessage, res: http.ServerResponse) {
    if (mailTo.length === 0) throw new Refusal(403, 'mail is not granted to this task (grants.mail)')
    if (!backends.smtp) throw new Refusal(503, 'this client has no SMTP relay (plugin config smtp_addr)', 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
    const message = parseMailRequest(parseJson(await readBody(req, res, budget)))
    if (!mayMail(mailTo, message.to)) throw new Refusal(403, 'to: this address is not among the recipients grants.mail names')
    const sender = (mailer ??= new Mailer(backends.smtp))
    const send = () =>
      sender.send(message, async (bucket, key) => {
        const client = await s3Client(bucket)
        const stream = await client.getObject(bucket, key).catch((err: Error & { code?: string }) => {
          if (err.code === 'NoSuchKey') throw new Refusal(404, `no object ${key} in ${bucket}`, 'LEAN_ERR_CAPABILITY_NOT_FOUND')
          throw err
        })
        const chunks: Buffer[] = []
        for await (const chunk of stream) chunks.push(chunk as Buffer)
        return Buffer.concat(chunks)
      })
    const { idempotencyKey } = message
    const db = platformDatabase()
    // With a key (and a database to remember it in), one message per key and recipient.
    if (idempotencyKey === undefined || !db) {
      const sent = await send()
      return json(res, 201, { message_id: sent.messageId, accepted: sent.accepted })
    }
    ownApp('idempotency_key')
    const sent = await sendOnce(db, { ...message, idempotencyKey }, sender.messageIdFor(idempotencyKey, message.to), send, log)
    return json(res, sent.duplicate ? 200 : 201, { message_id: sent.messageId, accepted: sent.accepted, duplicate: sent.duplicate })
  }

  async function presign(res: http.ServerResponse, bucket: string, key: string, expires: number) {
    const client = await s3Client(bucket)
    return json(res, 200, { url: await client.presignedGetObject(bucket, key, linkSeconds(expires, 'expires')) })
  }

  const server = http.createServer((req, res) => {
    const auth = Buffer.from(req.headers.authorization ?? '')
    if (!budget.enter()) {
      json(res, 503, { error: `${budget.limits.calls} capability calls are under way already; try again`, code: 'LEAN_ERR_CAPABILITY_UNAVAILABLE' })
      return
    }
    res.once('close', () => budget.leave())
    const route = async () => {
      if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) throw new Refusal(401, 'missing or wrong capability token')
      const url = new URL(req.url ?? '/', 'http://capabilities')
      const [, kind, first, ...rest] = url.pathname.split('/').map(decodeURIComponent)
      if (kind === 'blob' && first && rest.length) return blob(req, res, first, rest.join('/'), url.searchParams.get('presign'))
      if (kind === 'presign' && req.method === 'POST' && first && rest.length) return presign(res, first, rest.join('/'), Number(url.searchParams.get('expires') ?? 600))
      if (kind === 'request-log' && req.method === 'POST') return requestLog(req, res)
      if (kind === 'outbox' && req.method === 'POST' && first) return defer(req, res, first, rest.join('/') + url.search)
      if (kind === 'mail' && req.method === 'POST' && !first) return mail(req, res)
      throw new Refusal(404, `no capability at ${url.pathname}`, 'LEAN_ERR_CAPABILITY_NOT_FOUND')
    }
    route().catch((err: unknown) => {
      const refusal = err instanceof Refusal ? err : new Refusal(502, `backend failed: ${(err as Error).message}`, 'LEAN_ERR_CAPABILITY_BACKEND')
      if (refusal.status >= 500) log.warn({ path: req.url, err: refusal.message }, 'capability call failed')
      if (!res.headersSent) json(res, refusal.status, { error: refusal.message, code: refusal.code })
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  }).catch(async (err: unknown) => {
    await outbox?.release()
    throw err
  })
  const { port } = server.address() as { port: number }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    authority: `127.0.0.1:${port}`,
    async close() {
      await outbox?.release()
      mailer?.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await pool?.end()
    },
  }
}

/** A presigned link's lifetime: S3 allows up to seven days. */
function linkSeconds(value: number, field = 'presign'): number {
  if (!Number.isInteger(value) || value < 1 || value > 7 * 24 * 3600) throw new Refusal(400, `${field}: seconds from 1 to 604800`, 'LEAN_ERR_CAPABILITY_REQUEST')
  return value
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'))
  } catch {
    throw new Refusal(400, 'body: expected JSON', 'LEAN_ERR_CAPABILITY_REQUEST')
  }
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
