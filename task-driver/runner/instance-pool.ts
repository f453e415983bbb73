// The task's pool of warm instances and the front HTTP server on the task's
// Nomad port. Each request goes to the least busy instance; the host, not the
// guest, enforces the request timeout, the body limit and the memory limit,
// and replaces an instance that traps, hangs or grows too large without
// disturbing the others.
import http from 'node:http'
import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import type { InstanceWorkerData } from './instance-worker.ts'

export interface PoolOptions {
  readonly size: number
  readonly host: string
  readonly port: number
  readonly requestTimeoutMs: number
  readonly maxRequestBodyBytes: number
  readonly worker: Omit<InstanceWorkerData, 'modules'> & { modules: Map<string, WebAssembly.Module> }
  readonly log: Logger
  /** Told about every instance replacement, with the reason. */
  readonly onReplace?: (reason: string) => void
}

interface Instance {
  readonly id: number
  readonly worker: Worker
  port: number
  inflight: number
  served: number
  draining: boolean
  agent: http.Agent
}

// Bundled (dist/task-driver/runner.mjs) the worker sits beside us as instance-worker.mjs.
const workerUrl = import.meta.url.endsWith('.mjs') ? new URL('./instance-worker.mjs', import.meta.url) : new URL('./instance-worker.ts', import.meta.url)
/** Internal header by which an instance's guard says "I trapped; replace me". */
export const POISONED_HEADER = 'x-lean-instance-poisoned'
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer'])

export class InstancePool {
  readonly #options: PoolOptions
  readonly #instances = new Set<Instance>()
  #server?: http.Server
  #nextId = 1
  #closing = false
  /** Requests waiting for an instance while every one is being replaced. */
  readonly #waiting = new Set<() => void>()
  replaced = 0

  constructor(options: PoolOptions) {
    this.#options = options
  }

  /** Starts every instance, then the front server. Rejects if an instance fails to start. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.#options.size }, () => this.#spawn()))
    const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => this.#route(req, res))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#options.port, this.#options.host, () => resolve())
    })
  }

  get size(): number {
    return this.#instances.size
  }

  async close(): Promise<void> {
    this.#closing = true
    const closed = new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()))
    // close() would wait for keep-alive connections to time out: let requests
    // in flight finish (up to the request timeout), then end every connection.
    const inflight = () => [...this.#instances].reduce((n, i) => n + i.inflight, 0)
    const deadline = Date.now() + this.#options.requestTimeoutMs
    while (inflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    this.#server?.closeAllConnections()
    await closed
    await Promise.all([...this.#instances].map((i) => this.#retire(i)))
  }

  #spawn(): Promise<Instance> {
    const { modules, ...rest } = this.#options.worker
    const workerData: InstanceWorkerData = { ...rest, modules: Object.fromEntries(modules) }
    const worker = new Worker(workerUrl, { workerData, stdout: false, stderr: false })
    const instance: Instance = {
      id: this.#nextId++,
      worker,
      port: 0,
      inflight: 0,
      served: 0,
      draining: false,
      agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    }
    return new Promise((resolve, reject) => {
      let ready = false
      worker.on('message', (msg: { type: string; port?: number; reason?: string }) => {
        if (msg.type === 'ready') {
          ready = true
          instance.port = msg.port!
          this.#instances.add(instance)
          for (const wake of this.#waiting) wake()
          resolve(instance)
        } else if (msg.type === 'poisoned') {
          this.#replace(instance, msg.reason!)
        }
      })
      worker.on('error', (err) => {
        if (!ready) reject(err)
        else this.#options.log.error({ instance: instance.id, err: err.message }, 'instance failed')
      })
      worker.on('exit', (code) => {
        if (!ready) reject(new Error(`instance exited with code ${code} before it was ready`))
        else if (this.#instances.has(instance) && !this.#closing) this.#replace(instance, `instance thread exited with code ${code}`)
      })
    })
  }

  /** Takes an instance out of rotation and starts its successor. */
  #replace(instance: Instance, reason: string): void {
    if (instance.draining || this.#closing) return
    instance.draining = true
    this.replaced += 1
    this.#options.log.warn({ instance: instance.id, reason }, 'replacing instance')
    this.#options.onReplace?.(reason)
    this.#spawn().catch((err: Error) => this.#options.log.error({ err: err.message }, 'could not start a replacement instance'))
    // Let requests already inside finish, unless the instance is stuck.
    const finish = () => void this.#retire(instance)
    if (instance.inflight === 0) finish()
    else setTimeout(finish, this.#options.requestTimeoutMs).unref()
  }

  async #retire(instance: Instance): Promise<void> {
    this.#instances.delete(instance)
    instance.agent.destroy()
    await instance.worker.terminate()
  }

  #pick(): Instance | undefined {
    let best: Instance | undefined
    for (const i of this.#instances) {
      if (i.draining) continue
      if (!best || i.inflight < best.inflight) best = i
    }
    return best
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > this.#options.maxRequestBodyBytes) return plain(res, 413, 'request body too large\n')
    const instance = this.#pick()
    if (instance) return this.#forward(req, res, instance)
    // Every instance is being replaced (a trap or a timeout just now): wait for
    // a fresh one, up to the request timeout, rather than refuse at once.
    const wake = () => {
      const ready = this.#pick()
      if (!ready) return
      this.#waiting.delete(wake)
      clearTimeout(giveUp)
      this.#forward(req, res, ready)
    }
    const giveUp = setTimeout(() => {
      this.#waiting.delete(wake)
      plain(res, 503, 'no instance available\n')
    }, this.#options.requestTimeoutMs)
    this.#waiting.add(wake)
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse, instance: Instance): void {
    instance.inflight += 1
    let done = false
    const finish = () => {
      if (done) return
      done = true
      instance.inflight -= 1
      instance.served += 1
      clearTimeout(timer)
    }
    const timer = setTimeout(() => {
      if (done) return
      finish()
      // The guest is still running: only terminating its thread stops it.
      upstream.destroy()
      if (!res.headersSent) plain(res, 504, 'the component did not answer in time\n')
      else res.destroy()
      this.#replace(instance, `a request to ${req.url} ran past the ${this.#options.requestTimeoutMs} ms request timeout`)
      instance.inflight = 0
    }, this.#options.requestTimeoutMs)

    const headers: http.OutgoingHttpHeaders = {}
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? ''
    const upstream = http.request(
      { host: '127.0.0.1', port: instance.port, method: req.method, path: req.url, headers, agent: instance.agent },
      (up) => {
        // The instance's guard marks answers from a trapped instance; take it
        // out of rotation before the client (and its next request) sees this one.
        const poisoned = up.headers[POISONED_HEADER]
        if (typeof poisoned === 'string') this.#replace(instance, decodeURIComponent(poisoned))
        const out: http.OutgoingHttpHeaders = {}
        for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && k !== POISONED_HEADER) out[k] = v
        res.writeHead(up.statusCode ?? 502, out)
        up.pipe(res)
        up.on('end', finish)
        up.on('error', finish)
      },
    )
    upstream.on('error', (err) => {
      if (done) return
      finish()
      if (!res.headersSent) plain(res, 502, `instance error: ${err.message}\n`)
    })
    let received = 0
    req.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received > this.#options.maxRequestBodyBytes) {
        finish()
        upstream.destroy()
        if (!res.headersSent) plain(res, 413, 'request body too large\n')
        req.destroy()
      }
    })
    req.pipe(upstream)
  }
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
