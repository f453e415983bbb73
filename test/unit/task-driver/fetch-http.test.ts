import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { DriverError } from '../../../task-driver/kit/errors.ts'
import { fetchHttpComponent } from '../../../task-driver/wasm/fetch-http.ts'
import { readCapped } from '../../../task-driver/wasm/read-capped.ts'

const code = (c: string, message?: RegExp) => (err: unknown) =>
  err instanceof DriverError && err.code === c && (message === undefined || message.test(err.message))

/** A server on 127.0.0.1 that counts requests; `handler` answers them. */
async function server(t: TestContext, handler: http.RequestListener) {
  const seen: string[] = []
  const s = http.createServer((req, res) => {
    seen.push(req.url ?? '')
    handler(req, res)
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => s.close(() => resolve())))
  return { port: (s.address() as AddressInfo).port, seen }
}

const onlyMb = 1024 * 1024
/** Test-only: this test's own loopback server may be connected to. */
const loopbackAllowed = () => true

test('a host not on component_hosts is refused without a request', async (t) => {
  const { port, seen } = await server(t, (_req, res) => res.end('x'))
  await assert.rejects(
    fetchHttpComponent(new URL(`http://127.0.0.1:${port}/c.wasm`), { hosts: [], maxBytes: onlyMb }),
    code('LEAN_ERR_COMPONENT_SOURCE', /not in the wasm plugin's component_hosts \(none configured\)/),
  )
  await assert.rejects(
    fetchHttpComponent(new URL('https://other.example.com/c.wasm'), {
      hosts: ['components.example.com'],
      maxBytes: onlyMb,
    }),
    code(
      'LEAN_ERR_COMPONENT_SOURCE',
      /component host other\.example\.com is not in .*component_hosts \(components\.example\.com\)/,
    ),
  )
  assert.deepEqual(seen, [])
})

test('loopback is refused even when listed: as an IP literal, IPv4-mapped, or a name that resolves to it', async (t) => {
  const { port, seen } = await server(t, (_req, res) => res.end('x'))
  const cases: Array<[string, string]> = [
    [`http://127.0.0.1:${port}/c.wasm`, '127.0.0.1'],
    [`http://[::ffff:127.0.0.1]:${port}/c.wasm`, '[::ffff:127.0.0.1]'],
    [`http://[::1]:${port}/c.wasm`, '::1'],
    [`http://localhost:${port}/c.wasm`, 'localhost'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
  ]
  for (const [url, host] of cases) {
    await assert.rejects(
      fetchHttpComponent(new URL(url), { hosts: [host], maxBytes: onlyMb }),
      code('LEAN_ERR_COMPONENT_SOURCE', /non-public address; components are never fetched from those/),
      url,
    )
  }
  assert.deepEqual(seen, [], 'no request reached the loopback server')
})

test('a body over component_max_size is cut off as soon as it passes the limit', async (t) => {
  let sent = 0
  let closed = false
  const { port } = await server(t, (_req, res) => {
    // No content-length, and far more than the limit, slowly: only the cap can stop it.
    res.on('close', () => (closed = true))
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer)
      sent += 64 * 1024
      res.write(Buffer.alloc(64 * 1024))
    }, 1)
  })
  await assert.rejects(
    fetchHttpComponent(new URL(`http://127.0.0.1:${port}/big.wasm`), {
      hosts: ['127.0.0.1'],
      maxBytes: 256 * 1024,
      addressAllowed: loopbackAllowed,
    }),
    code('LEAN_ERR_COMPONENT_TOO_LARGE', /component_max_size \(262144 bytes\)/),
  )
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.ok(closed, 'the connection was closed')
  assert.ok(sent < 4 * onlyMb, `the server stopped after ${sent} bytes`)
})

test('a declared content-length over the limit is refused before the body', async (t) => {
  const { port } = await server(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(10 * onlyMb) })
    res.write(Buffer.alloc(1024))
  })
  await assert.rejects(
    fetchHttpComponent(new URL(`http://127.0.0.1:${port}/c.wasm`), {
      hosts: ['127.0.0.1'],
      maxBytes: onlyMb,
      addressAllowed: loopbackAllowed,
    }),
    code('LEAN_ERR_COMPONENT_TOO_LARGE'),
  )
})

test('redirects are not followed; an error status is a retryable fetch error; a listed host answers', async (t) => {
  const { port, seen } = await server(t, (req, res) => {
    if (req.url === '/moved') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' })
      return res.end()
    }
    if (req.url === '/broken') {
      res.writeHead(503)
      return res.end()
    }
    res.end('component bytes')
  })
  const options = { hosts: ['127.0.0.1'], maxBytes: onlyMb, addressAllowed: loopbackAllowed }
  await assert.rejects(
    fetchHttpComponent(new URL(`http://127.0.0.1:${port}/moved`), options),
    code('LEAN_ERR_COMPONENT_SOURCE', /answered 302, a redirect; redirects are not followed/),
  )
  await assert.rejects(
    fetchHttpComponent(new URL(`http://127.0.0.1:${port}/broken`), options),
    (err: unknown) => {
      assert.ok(err instanceof DriverError)
      assert.equal(err.code, 'LEAN_ERR_COMPONENT_FETCH')
      assert.equal(err.recoverable, true)
      return true
    },
  )
  const ok = await fetchHttpComponent(new URL(`http://127.0.0.1:${port}/c.wasm`), options)
  assert.equal(ok.toString(), 'component bytes')
  assert.deepEqual(seen, ['/moved', '/broken', '/c.wasm'])
})

test('readCapped stops pulling from the stream the moment the limit is passed', async () => {
  let pulled = 0
  const endless = Readable.from(
    (function* () {
      for (;;) {
        pulled += 1
        yield Buffer.alloc(1000)
      }
    })(),
  )
  await assert.rejects(readCapped(endless, 4500, 'component x'), code('LEAN_ERR_COMPONENT_TOO_LARGE'))
  assert.ok(pulled <= 6 + 16, `pulled ${pulled} chunks`) // the limit plus what the stream buffered ahead
  assert.ok(endless.destroyed, 'the stream is destroyed')
  assert.equal(
    (await readCapped(Readable.from([Buffer.from('ab'), Buffer.from('c')]), 3, 'c')).toString(),
    'abc',
  )
})
