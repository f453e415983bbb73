// The engine's HTTP semantics, seen by a raw HTTP/1.1 client: the component
// test/fixtures/http-semantics (built by infra/components/http-semantics-fixture.ts)
// runs as a Nomad job of the wasm driver, and Node's http client, on a
// connection of its own per request, watches when bytes arrive, the trailers,
// and whether a response ended as HTTP says or broke off. Conditions, never
// wall-clock thresholds: "the first line arrived before the guest wrote the
// last", "the guest answered each piece before the next one was sent".
import assert from 'node:assert/strict'
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { buildHttpSemantics } from '../../../infra/components/http-semantics-fixture.ts'
import type { BuiltComponent } from '../../../infra/components/component-cache.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, stopJob, taskProcessPids, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const MIB = 2 ** 20
/** The bound on every wait for the engine: generous, for a loaded two-core machine. */
const WAIT_MS = 90_000

/** A copy the wasm plugin may read: it takes local files only under workloads/dist (component_paths). */
async function onTheNode(built: BuiltComponent): Promise<BuiltComponent> {
  const dir = path.join(repo, 'workloads', 'dist', 'fixtures')
  await mkdir(dir, { recursive: true })
  const file = path.join(dir, `${built.sha256}.wasm`)
  await copyFile(built.file, file)
  return { file, sha256: built.sha256 }
}

interface Chunk {
  readonly at: number
  readonly data: Buffer
}

interface Received {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly trailers: NodeJS.Dict<string>
  readonly chunks: readonly Chunk[]
  readonly body: Buffer
  /** Whether the message ended as HTTP/1.1 says it must: its length reached, or its last chunk seen. */
  readonly complete: boolean
}

interface ExchangeOptions {
  readonly method?: string
  readonly headers?: http.OutgoingHttpHeaders
  /** Keep the body (default true); false for large ones, which `onData` looks at instead. */
  readonly keep?: boolean
  readonly onData?: (data: Buffer, response: http.IncomingMessage) => void
}

/** One request on a connection of its own, and its response as it arrives. */
class Exchange {
  readonly request: http.ClientRequest
  /** The response head. */
  readonly head: Promise<http.IncomingMessage>
  /** The whole response once it ended or broke off. */
  readonly done: Promise<Received>
  readonly chunks: Chunk[] = []
  private text = ''
  private readonly waiters = new Set<() => void>()

  constructor(base: string, target: string, options: ExchangeOptions = {}) {
    const keep = options.keep ?? true
    this.request = http.request(new URL(target, base), {
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
    })
    this.request.setTimeout(WAIT_MS, () =>
      this.request.destroy(new Error(`${target}: nothing moved on the connection for ${WAIT_MS} ms`)),
    )
    let answered = false
    this.head = new Promise((resolve, reject) => {
      // Errors after the head (a body broken off) show as an incomplete response instead.
      this.request.on('error', (err) => answered || reject(err))
      this.request.on('response', (response) => {
        answered = true
        resolve(response)
      })
    })
    this.done = this.head.then(
      (response) =>
        new Promise((resolve) => {
          response.on('data', (data: Buffer) => {
            if (keep) {
              this.chunks.push({ at: Date.now(), data })
              this.text += data.toString('latin1')
            }
            options.onData?.(data, response)
            for (const waiter of this.waiters) waiter()
          })
          const ended = () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              trailers: response.trailers,
              chunks: this.chunks,
              body: Buffer.concat(this.chunks.map((c) => c.data)),
              complete: response.complete,
            })
          response.on('error', () => {}) // "aborted": seen as an incomplete response at 'close'
          response.on('end', ended)
          response.on('close', ended)
        }),
    )
    this.done.catch(() => {})
  }

  /** Resolves once the body so far satisfies `predicate`; rejects if the response ends first. */
  until(predicate: (text: string) => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer)
        this.waiters.delete(check)
        if (err) reject(err)
        else resolve()
      }
      const check = () => predicate(this.text) && finish()
      const timer = setTimeout(
        () => finish(new Error(`${what}: not within ${WAIT_MS} ms; so far: ${JSON.stringify(this.text.slice(-400))}`)),
        WAIT_MS,
      )
      this.waiters.add(check)
      check()
      this.done.then(
        () => this.waiters.has(check) && finish(new Error(`${what}: the response ended first: ${JSON.stringify(this.text.slice(-400))}`)),
        (err: Error) => this.waiters.has(check) && finish(err),
      )
    })
  }
}

function send(base: string, target: string, options: ExchangeOptions & { body?: string | Buffer } = {}): Promise<Received> {
  const exchange = new Exchange(base, target, options)
  exchange.request.end(options.body)
  return exchange.done
}

/** Sends `request` as it is and resolves with all that came back once the server closed. */
function raw(base: string, request: string): Promise<string> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname)
    const received: Buffer[] = []
    socket.setTimeout(WAIT_MS, () => socket.destroy(new Error(`no close within ${WAIT_MS} ms`)))
    socket.on('data', (data) => received.push(data))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(received).toString('latin1')))
    socket.write(request)
  })
}

const lines = (r: Received): string[] => r.body.toString('utf8').split('\n').filter(Boolean)

/** FNV-1a, 64 bits, as the component computes its x-checksum trailer. */
function fnv1a(bytes: Buffer): string {
  let hash = 0xcbf29ce484222325n
  for (const b of bytes) hash = ((hash ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn
  return hash.toString(16).padStart(16, '0')
}

/** The resident memory of a process, in bytes. */
async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (!kb) throw new Error(`no VmRSS for process ${pid}`)
  return Number(kb[1]) * 1024
}

/** Checks that word k of a /large body (4 bytes, little-endian) is k, across chunk boundaries. */
class WordCheck {
  bytes = 0
  wrong = 0
  private carry = Buffer.alloc(0)

  push(data: Buffer): void {
    const all = this.carry.length ? Buffer.concat([this.carry, data]) : data
    const whole = all.length - (all.length % 4)
    let word = (this.bytes - this.carry.length) / 4
    for (let i = 0; i < whole; i += 4, word++) if (all.readUInt32LE(i) !== word >>> 0) this.wrong++
    this.carry = Buffer.from(all.subarray(whole))
    this.bytes += data.length
  }
}

test('the engine keeps HTTP semantics: streaming both ways, trailers both ways, failures, HEAD, statuses, large bodies', { timeout: 30 * 60_000 }, async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const component = await onTheNode(await buildHttpSemantics())
  const id = uniqueName('httpsem')
  // A second task whose requests time out after 2 s, for a timeout in the middle of a body.
  const shortId = uniqueName('httpsem-timeout')
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, component, { instances: 2, config: { max_request_body: '1MiB' } }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(shortId, component, { instances: 1, config: { request_timeout: '2s' } }))
  t.after(() => stopJob(addr, shortId).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running', 300_000)
  const [shortAlloc] = await waitForAllocs(addr, shortId, 1, 'running', 300_000)
  const base = allocAddress(alloc!)

  await t.test('a streamed response reaches the client before the guest writes its last chunk', async () => {
    const r = await send(base, '/stream?chunks=5&delay_ms=400')
    assert.equal(r.status, 200)
    assert.equal(r.headers['transfer-encoding'], 'chunked')
    assert.ok(r.complete)
    const written = lines(r).map((l) => Number(/^chunk \d+ of 5 written at (\d+)$/.exec(l)?.[1]))
    assert.equal(written.length, 5, r.body.toString())
    assert.ok(r.chunks.length > 1, `the body came in ${r.chunks.length} piece(s)`)
    assert.ok(
      r.chunks[0]!.at < written[4]!,
      `the first bytes arrived (${r.chunks[0]!.at}) before the guest wrote its last line (${written[4]})`,
    )
  })

  for (const framing of ['chunked', 'content-length'] as const) {
    await t.test(`a request body (${framing}) reaches the guest piece by piece while the client is still sending`, async () => {
      const pieces = [Buffer.alloc(1000, 'a'), Buffer.alloc(2000, 'b'), Buffer.alloc(3000, 'c'), Buffer.alloc(4000, 'd')]
      const total = pieces.reduce((n, p) => n + p.length, 0)
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' }
      if (framing === 'content-length') headers['content-length'] = String(total)
      const exchange = new Exchange(base, '/echo-stream', { method: 'POST', headers })
      exchange.request.flushHeaders()
      // The guest answers before it reads anything.
      const head = await exchange.head
      assert.equal(head.statusCode, 200)
      // Lock-step: each piece goes only after the guest said it read the one before,
      // which only a host that streams both ways allows.
      let sent = 0
      for (const piece of pieces) {
        exchange.request.write(piece)
        sent += piece.length
        await exchange.until((text) => new RegExp(`^read ${sent} `, 'm').test(text), `the guest to report ${sent} bytes`)
      }
      exchange.request.end()
      const r = await exchange.done
      assert.ok(r.complete)
      const totals = lines(r).filter((l) => l.startsWith('read ')).map((l) => Number(l.split(' ')[1]))
      for (const boundary of [1000, 3000, 6000, 10000]) assert.ok(totals.includes(boundary), `${totals}`)
      assert.equal(lines(r).at(-1), `end ${total}`)
    })
  }

  await t.test('response trailers reach a client that sent TE: trailers; without it they are dropped', async () => {
    const r = await send(base, '/trailers', { headers: { te: 'trailers' } })
    assert.equal(r.status, 200)
    assert.ok(r.complete)
    assert.equal(r.headers['transfer-encoding'], 'chunked')
    assert.equal(r.headers.trailer, 'x-checksum, x-lines')
    assert.equal(r.body.toString(), 'line 0\nline 1\nline 2\n')
    assert.deepEqual({ ...r.trailers }, { 'x-checksum': fnv1a(r.body), 'x-lines': '3' })

    // HTTP/1.1 servers on hyper (wasmtime serve's too) send trailers only to a client that asked.
    const without = await send(base, '/trailers')
    assert.ok(without.complete)
    assert.equal(without.body.toString(), 'line 0\nline 1\nline 2\n')
    assert.deepEqual({ ...without.trailers }, {})
  })

  await t.test('request trailers reach the guest', async () => {
    const exchange = new Exchange(base, '/request-trailers', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', trailer: 'x-digest, x-count' },
    })
    exchange.request.write('abc')
    exchange.request.write('def')
    exchange.request.addTrailers({ 'x-digest': 'sha-256=abcdef', 'x-count': '2' })
    exchange.request.end()
    const r = await exchange.done
    assert.equal(r.status, 200, r.body.toString())
    assert.equal(r.body.toString(), 'bytes 6\nx-count: 2\nx-digest: sha-256=abcdef\n')
  })

  await t.test('a chunked request body over max_request_body: 413 while the guest has not answered, cut off once it has', async () => {
    // limit + 1 bytes and no end: the engine has read all that was sent when it answers.
    const over = Buffer.alloc(MIB + 1, 'x')
    const before = new Exchange(base, '/request-trailers', { method: 'POST' })
    before.request.write(over)
    const refused = await before.done
    assert.equal(refused.status, 413)
    assert.equal(refused.body.toString(), 'request body too large\n')
    before.request.destroy()

    const after = new Exchange(base, '/echo-stream', { method: 'POST' })
    after.request.write(over)
    const cut = await after.done
    assert.equal(cut.status, 200, 'the guest had answered before it read the body')
    assert.equal(cut.complete, false, `the response broke off: ${cut.body.toString().slice(-200)}`)
    after.request.destroy()
  })

  await t.test('a trap before the response is a 500', async () => {
    const r = await send(base, '/trap-before')
    assert.equal(r.status, 500)
    assert.equal(r.body.toString(), 'the component trapped\n')
  })

  for (const [route, what] of [
    ['/fail-mid-body?how=trap', 'a trap right after 16 KiB of a chunked 200'],
    ['/fail-mid-body?how=trap&delay_ms=300', 'a trap 300 ms after 16 KiB of a chunked 200'],
    ['/fail-mid-body?how=trap&length&delay_ms=300', 'a trap 300 ms after 16 KiB of a 200 declaring 1 MiB'],
    ['/fail-mid-body?how=drop&delay_ms=300', 'a guest that returns leaving a chunked 200 unfinished'],
  ] as const) {
    await t.test(`${what} breaks the connection: never a complete 200`, async (st) => {
      const r = await send(base, route).catch((err: NodeJS.ErrnoException) => err)
      if (r instanceof Error) {
        // Nothing had been flushed yet: the connection closed before a head.
        assert.equal(r.code, 'ECONNRESET', r.message)
        st.diagnostic('the connection closed before the head was read')
        return
      }
      assert.equal(r.status, 200)
      assert.equal(r.complete, false, `got ${r.body.length} bytes that ended as a complete response`)
      assert.ok(r.body.length <= 16 * 1024, `${r.body.length} bytes`)
      st.diagnostic(`a 200 head and ${r.body.length} bytes, then the connection broke`)
    })
  }

  await t.test('a request timeout in the middle of a body breaks the connection', async () => {
    const r = await send(allocAddress(shortAlloc!), '/stream?chunks=100&delay_ms=100')
    assert.equal(r.status, 200)
    assert.equal(r.complete, false, `${lines(r).length} lines, ended as a complete response`)
    assert.ok(lines(r).length >= 1 && lines(r).length < 100, `${lines(r).length} lines`)
  })

  await t.test("HEAD gives the GET's headers and no body", async () => {
    for (const target of ['/resource', '/stream?chunks=3&delay_ms=0']) {
      const get = await send(base, target)
      const head = await send(base, target, { method: 'HEAD' })
      assert.equal(head.status, get.status, target)
      assert.ok(head.complete, target)
      assert.equal(head.body.length, 0, target)
      assert.ok(get.body.length > 0, target)
      for (const name of ['content-type', 'content-length', 'x-resource', 'x-chunks']) {
        assert.equal(head.headers[name], get.headers[name], `${target}: ${name}`)
      }
    }
    const get = await send(base, '/resource')
    assert.equal(get.headers['content-length'], String(get.body.length))
    // The guest wrote a body for each HEAD; writing into a body the server drops
    // failed for it gracefully, and the instances serve on.
    assert.equal((await send(base, '/resource')).status, 200)
  })

  await t.test('statuses: 3xx pass Location; 204 and 304 have no body; a final 1xx becomes 500', async () => {
    for (const code of [301, 302, 303, 307, 308]) {
      const r = await send(base, `/status/${code}?location=${encodeURIComponent('https://example.com/next?x=1')}`)
      assert.equal(r.status, code)
      assert.equal(r.headers.location, 'https://example.com/next?x=1', `${code}`)
      assert.equal(r.body.toString(), `status ${code}\n`)
    }
    for (const code of [204, 304]) {
      const r = await send(base, `/status/${code}`)
      assert.equal(r.status, code)
      assert.ok(r.complete)
      assert.equal(r.body.length, 0, `${code} has no body`)
    }
    for (const code of [418, 599]) assert.equal((await send(base, `/status/${code}`)).status, code)
    // wasi:http p2 has no way to send an informational response first; a guest
    // may set 1xx as the final status, which hyper answers as 500.
    for (const code of [100, 103]) assert.equal((await send(base, `/status/${code}`)).status, 500, `${code}`)
    // 101 goes out as it is, and the connection closes: wasi:http has no upgrade (as under wasmtime serve).
    const switching = await raw(base, 'GET /status/101 HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.match(switching, /^HTTP\/1\.1 101 Switching Protocols\r\n/)
    assert.ok(switching.endsWith('\r\n\r\n'), `nothing after the head: ${JSON.stringify(switching)}`)
    // Outside 100-999 wasi:http refuses the status itself.
    assert.equal((await send(base, '/status/1000')).status, 400)
  })

  for (const framing of ['chunked', 'content-length'] as const) {
    await t.test(`a 64 MiB response (${framing}) arrives whole and the task's memory stays bounded`, async (st) => {
      const [pid] = await taskProcessPids(alloc!.ID)
      assert.ok(pid, 'the task has a host process')
      const baseline = await rss(pid)
      let peak = baseline
      const sample = setInterval(() => {
        rss(pid).then((bytes) => (peak = Math.max(peak, bytes)), () => {})
      }, 20)
      const check = new WordCheck()
      let paused: () => void
      const pausedOnce = new Promise<void>((resolve) => (paused = resolve))
      let resumeReading: (() => void) | undefined
      const exchange = new Exchange(base, `/large?mib=64${framing === 'content-length' ? '&length' : ''}`, {
        keep: false,
        onData: (data, response) => {
          check.push(data)
          if (!resumeReading && check.bytes >= 4 * MIB) {
            // Stop reading: a host that buffered bodies would now take in the rest.
            response.pause()
            resumeReading = () => response.resume()
            paused()
          }
        },
      })
      exchange.request.end()
      try {
        await pausedOnce
        // Until the host settles: its resident memory the same three samples running.
        let last = -1
        let same = 0
        const settled = await waitFor(
          async () => {
            const now = await rss(pid)
            same = now === last ? same + 1 : 0
            last = now
            return same >= 2 ? now : false
          },
          { timeoutMs: WAIT_MS, intervalMs: 200, what: "the host's memory to settle while the client does not read" },
        )
        peak = Math.max(peak, settled)
        resumeReading!()
        const r = await exchange.done
        assert.equal(r.status, 200)
        assert.ok(r.complete)
        if (framing === 'content-length') assert.equal(r.headers['content-length'], String(64 * MIB))
        else assert.equal(r.headers['transfer-encoding'], 'chunked')
      } finally {
        clearInterval(sample)
      }
      assert.equal(check.bytes, 64 * MIB)
      assert.equal(check.wrong, 0, 'every word in place')
      const grew = peak - baseline
      st.diagnostic(`${framing}: host RSS ${(baseline / MIB).toFixed(1)} MiB before, peak ${(peak / MIB).toFixed(1)} MiB`)
      assert.ok(grew < 16 * MIB, `the host grew by ${(grew / MIB).toFixed(1)} MiB while sending 64 MiB`)
    })
  }
})
