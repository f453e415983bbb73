// The component endpoints on an in-memory bucket: a component is stored under
// components/<sha256>.wasm only when the body has that digest, is within the
// size limit and passes the inspection; every refusal names its code and
// field, and stores nothing.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { ApiError } from '../../../controller/api-errors.ts'
import { ComponentStore } from '../../../controller/component-store.ts'
import { component, coreModule, HANDLER, SOME_IMPORTS } from '../../harness/component-binaries.ts'
import { api, MemoryKv, MemoryObjects } from './stubs.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
// Uploads carry the caller's token (the in-memory KV lets any token write unless a test says otherwise).
const writer = { 'x-consul-token': 'operator' }
const raw = { 'content-type': 'application/octet-stream', ...writer }
const good = component()

function setup(maxBytes?: number) {
  const objects = new MemoryObjects()
  const kv = new MemoryKv()
  const components = new ComponentStore(objects, undefined, maxBytes === undefined ? undefined : { maxBytes })
  const app = api({ kv, components })
  const put = (bytes: Buffer, digest = sha(bytes), headers: Record<string, string> = raw) =>
    app.inject({ method: 'PUT', url: `/v1/components/${digest}`, payload: bytes, headers })
  const head = (digest: string, headers: Record<string, string> = writer) =>
    app.inject({ method: 'HEAD', url: `/v1/components/${digest}`, headers })
  return { objects, kv, app, put, head }
}

test('without S3 settings the component endpoints answer 503 saying what is missing', async () => {
  const app = api()
  for (const method of ['HEAD', 'PUT'] as const) {
    const res = await app.inject({ method, url: `/v1/components/${sha(good)}`, headers: raw, ...(method === 'PUT' && { payload: good }) })
    assert.equal(res.statusCode, 503, method)
    if (method === 'PUT') {
      assert.equal(res.json().code, 'LEAN_ERR_COMPONENTS_UNAVAILABLE')
      assert.match(res.json().message, /S3_ENDPOINT, S3_PUBLISHER_ACCESS_KEY and S3_PUBLISHER_SECRET_KEY/)
    }
  }
})

test('a component is stored under its digest once; HEAD says whether it is there', async () => {
  const { objects, put, head } = setup()
  assert.equal((await head(sha(good))).statusCode, 404)
  const first = await put(good)
  assert.equal(first.statusCode, 201)
  assert.deepEqual(first.json(), {
    key: `components/${sha(good)}.wasm`,
    sha256: sha(good),
    size: good.length,
    uploaded: true,
    imports: SOME_IMPORTS,
    exports: [HANDLER],
  })
  const stored = objects.objects.get(`components/${sha(good)}.wasm`)
  assert.deepEqual(stored?.bytes, good)
  assert.deepEqual(stored?.meta, { 'Content-Type': 'application/wasm', 'x-amz-meta-sha256': sha(good) })
  assert.equal((await head(sha(good))).statusCode, 200)
  const again = await put(good)
  assert.deepEqual([again.statusCode, again.json().uploaded], [200, false])
  assert.equal(objects.objects.size, 1)
})

test('refusals name their code and field, and nothing is stored', async () => {
  const { objects, put, head } = setup()
  const unsupported = component({ imports: ['wasi:cli/environment@0.2.3', 'acme:db/query@1.0.0', 'wasi:io/poll@0.3.0'], exports: [] })
  const cases: Array<[string, Promise<{ statusCode: number; json(): Record<string, unknown> }>, number, string, string, RegExp]> = [
    ['a body of another digest', put(good, 'cd'.repeat(32)), 400, 'LEAN_ERR_COMPONENT_DIGEST', 'sha256', new RegExp(`^the body's sha256 is ${sha(good)} \\(${good.length} bytes\\), not (cd)+; nothing was stored$`)],
    ['a core module', put(coreModule()), 400, 'LEAN_ERR_COMPONENT_CORE_MODULE', 'body', /refused; nothing was stored:\na core module, not a component \(build for wasm32-wasip2 or run `wasm-tools component new`\)$/],
    ['not wasm', put(Buffer.from('#!/bin/sh\n')), 400, 'LEAN_ERR_COMPONENT_MALFORMED', 'body', /not a WebAssembly binary/],
    [
      'a component the engine cannot serve',
      put(unsupported),
      400,
      'LEAN_ERR_COMPONENT_UNSUPPORTED',
      'body',
      /:\nexports no wasi:http\/incoming-handler\nimports acme:db\/query@1\.0\.0, which the engine does not provide\nimports wasi:io\/poll@0\.3\.0, which the engine does not provide \(it provides wasi:io\/poll at 0\.2\.0 to 0\.2\.12\)$/,
    ],
    ['an empty body', put(Buffer.alloc(0)), 400, 'LEAN_ERR_API_REQUEST', 'body', /^the body is empty/],
    ['a digest that is not one', put(good, 'nope'), 400, 'LEAN_ERR_API_REQUEST', 'sha256', /^expected the component's sha256/],
  ]
  for (const [what, answer, status, code, field, message] of cases) {
    const res = await answer
    assert.equal(res.statusCode, status, what)
    assert.equal(res.json().code, code, what)
    assert.equal(res.json().field, field, what)
    assert.match(String(res.json().message), message, what)
  }
  assert.equal(objects.objects.size, 0)
  assert.equal((await head(sha(unsupported))).statusCode, 404)
})

test('a body over the limit is refused (413), whether announced or only streamed, and nothing is stored', async () => {
  const { objects, put } = setup(good.length - 1)
  const res = await put(good)
  assert.equal(res.statusCode, 413)
  assert.deepEqual([res.json().code, res.json().field], ['LEAN_ERR_COMPONENT_TOO_LARGE', 'body'])
  assert.match(res.json().message, new RegExp(`larger than the ${good.length - 1} bytes an upload may be \\(LEAN_COMPONENT_MAX_SIZE\\); nothing was stored`))
  // Without a Content-Length the limit holds while the body streams.
  const store = new ComponentStore(objects, undefined, { maxBytes: 16 })
  const streamed = await store.put(sha(good), Readable.from([good.subarray(0, 10), good.subarray(10)])).catch((err: unknown) => err)
  assert.ok(streamed instanceof ApiError)
  assert.equal(streamed.code, 'LEAN_ERR_COMPONENT_TOO_LARGE')
  assert.equal(objects.objects.size, 0)
})

test("the caller's token: none is 401, one that may not write desired state is 403; nothing is stored", async () => {
  const { objects, kv, put, head } = setup()
  const anonymous = await put(good, sha(good), { 'content-type': 'application/octet-stream' })
  assert.deepEqual([anonymous.statusCode, anonymous.json().code], [401, 'LEAN_ERR_TOKEN_REQUIRED'])
  assert.equal((await head(sha(good), {})).statusCode, 401)
  // Consul refuses this token any write (it checks the token before the index).
  kv.beforeWrite = () => {
    throw Object.assign(new Error('Permission denied'), { statusCode: 403 })
  }
  const reader = await put(good)
  assert.equal(reader.statusCode, 403)
  assert.equal(reader.json().code, 'LEAN_ERR_TOKEN_REFUSED')
  assert.match(reader.json().message, /nothing was written/)
  assert.equal(objects.objects.size, 0)
  // Reading needs only a token that may read.
  assert.equal((await head(sha(good))).statusCode, 404)
})

test('a body cut off by the client is refused as such, and nothing is stored', async () => {
  const objects = new MemoryObjects()
  const store = new ComponentStore(objects)
  const body = new Readable({ read() {} })
  body.push(good.subarray(0, 20))
  setImmediate(() => body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })))
  const err = await store.put(sha(good), body).catch((e: unknown) => e)
  assert.ok(err instanceof ApiError)
  assert.deepEqual([err.status, err.code, err.field, err.message], [400, 'LEAN_ERR_API_REQUEST', 'body', 'the body was cut off; nothing was stored'])
  assert.equal(objects.objects.size, 0)
})
