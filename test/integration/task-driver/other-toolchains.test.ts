// Components from other toolchains under the real engine: examples/rust-hello
// (cargo, wasm32-wasip2) and examples/python-hello (componentize-py), built by
// infra/components/other-toolchains.ts and each run as a Nomad job of the wasm
// driver. Each answers its greeting, echoes a 5 MiB body as a stream (the echo
// starts before the upload ends), answers /status/418, and, with no outbound
// grant, has its outgoing wasi:http call refused as HTTP-request-denied.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { copyFile, mkdir } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  buildPythonHello,
  buildRustHello,
  type BuiltComponent,
} from '../../../infra/components/other-toolchains.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, stopJob, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const ECHO_BYTES = 5 * 2 ** 20
/** How much is uploaded before the test waits for the echo to begin. */
const FIRST_PART = 2 ** 20

/** A copy the wasm plugin may read: it takes local files only under workloads/dist (component_paths). */
async function onTheNode(built: BuiltComponent): Promise<BuiltComponent> {
  const dir = path.join(repo, 'workloads', 'dist', 'examples')
  await mkdir(dir, { recursive: true })
  const file = path.join(dir, `${built.sha256}.wasm`)
  await copyFile(built.file, file)
  return { file, sha256: built.sha256 }
}

/** Deterministic bytes that are not all alike, so a reordered or repeated chunk shows. */
function testBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size)
  let x = 0x2545f491
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes.writeUInt32LE(x >>> 0, i)
  }
  return bytes
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/**
 * POSTs `body` to /echo with its Content-Length (so the engine streams it to
 * the guest): the first part, then a wait for the first echoed bytes, then
 * the rest. Resolves with the echo and how much had come back before the rest
 * was sent.
 */
function streamedEcho(
  base: string,
  body: Buffer,
): Promise<{ status: number; echoed: Buffer; beforeRest: number }> {
  const url = new URL('/echo', base)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let received = 0
    let beforeRest = -1
    const request = http.request(url, {
      method: 'POST',
      headers: { 'content-length': String(body.length), 'content-type': 'application/octet-stream' },
    })
    const timer = setTimeout(
      () => request.destroy(new Error('no echo within 60 s of the first part')),
      60_000,
    )
    const sendRest = (): void => {
      if (beforeRest >= 0) return
      clearTimeout(timer)
      beforeRest = received
      request.end(body.subarray(FIRST_PART))
    }
    request.on('error', reject)
    request.on('response', (response) => {
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        received += chunk.length
        sendRest()
      })
      response.on('error', reject)
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, echoed: Buffer.concat(chunks), beforeRest }),
      )
    })
    request.write(body.subarray(0, FIRST_PART))
  })
}

const examples = [
  { name: 'rust-hello', build: buildRustHello, greeting: 'hello from rust\n' },
  { name: 'python-hello', build: buildPythonHello, greeting: 'hello from python\n' },
]

for (const example of examples) {
  test(
    `${example.name}, built by its own toolchain, runs under the engine: greeting, streamed echo, status, refused outbound call`,
    { timeout: 20 * 60_000 },
    async (t) => {
      const { env } = await useCloud()
      const addr = env.NOMAD_ADDR!
      const component = await onTheNode(await example.build())
      const id = uniqueName(example.name)
      const job = wasmJob(id, component, { instances: 1, config: { max_request_body: '8MiB' } })
      await nomad(addr, 'PUT', '/v1/jobs', job)
      t.after(() => stopJob(addr, id).catch(() => {}))
      // A first start compiles the component: CPython's takes a while on two cores.
      const [alloc] = await waitForAllocs(addr, id, 1, 'running', 300_000)
      const base = allocAddress(alloc!)

      const hello = await fetch(`${base}/`)
      assert.equal(hello.status, 200)
      assert.equal(await hello.text(), example.greeting)

      const body = testBytes(ECHO_BYTES)
      const echo = await streamedEcho(base, body)
      assert.equal(echo.status, 200)
      assert.equal(echo.echoed.length, body.length, 'the whole body came back')
      assert.equal(sha256(echo.echoed), sha256(body), 'byte for byte')
      assert.ok(
        echo.beforeRest > 0 && echo.beforeRest <= FIRST_PART,
        `the echo began before the upload ended (${echo.beforeRest} bytes back after the first ${FIRST_PART})`,
      )

      const health = await fetch(`${base}/health`)
      assert.equal(health.status, 200, 'the platform checks /health by default')
      await health.arrayBuffer()

      const teapot = await fetch(`${base}/status/418`)
      assert.equal(teapot.status, 418)
      await teapot.arrayBuffer()

      const missing = await fetch(`${base}/no-such-route`)
      assert.equal(missing.status, 404)
      await missing.arrayBuffer()

      // No outbound grant: the engine refuses the call before any lookup.
      const call = await fetch(`${base}/call?url=${encodeURIComponent('http://example.invalid/')}`)
      const text = await call.text()
      assert.equal(call.status, 502, text)
      assert.match(text, /HTTP-request-denied/)
    },
  )
}
