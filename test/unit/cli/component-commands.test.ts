// `leanctl component push` and `leanctl apply`/`validate` with a component
// file, through run(), against the controller's real HTTP API on an
// in-memory bucket (requests injected) and an in-memory Consul KV with
// check-and-set: a component is checked before anything is sent, pushed once,
// and the stored document names it by sha256 only.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import type { Kv } from '../../../cli/apps.ts'
import type { Fetch } from '../../../cli/controller-client.ts'
import { run } from '../../../cli/run.ts'
import { ComponentStore } from '../../../controller/component-store.ts'
import type { KvEntry } from '../../../controller/consul-kv.ts'
import { parseAppSpec, SpecError } from '../../../jobs/app-spec.ts'
import { component, coreModule } from '../../harness/component-binaries.ts'
import { api, APPS, MemoryObjects } from '../controller/stubs.ts'
import { injected } from './injected-fetch.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const env = { LEAN_APPS_PREFIX: APPS, LEAN_STATUS_PREFIX: 't/status/', LEAN_CONTROLLER_ADDR: '127.0.0.1:4999', CONSUL_HTTP_TOKEN: 'operator-token' }
const good = component()
const origin = 'http://127.0.0.1:4999'

/** Consul KV with its check-and-set rule: what apply needs. */
class KvStub implements Pick<Kv, 'get' | 'set'> {
  readonly data = new Map<string, KvEntry>()
  #index = 10
  async get(key: string) {
    return this.data.get(key)
  }
  async set(key: string, value: string, cas?: number) {
    if (cas !== undefined && (this.data.get(key)?.modifyIndex ?? 0) !== cas) return false
    const index = ++this.#index
    this.data.set(key, { key, value, modifyIndex: index, createIndex: this.data.get(key)?.createIndex ?? index })
    return true
  }
}

async function fixture(t: TestContext, maxBytes?: number) {
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-component-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const objects = new MemoryObjects()
  const seen: string[] = []
  const app = api({ components: new ComponentStore(objects, undefined, maxBytes === undefined ? undefined : { maxBytes }) })
  const kv = new KvStub()
  const leanctl = async (argv: string[], fetchFn: Fetch = injected(app, seen)) => {
    let stdout = ''
    let stderr = ''
    const io = { out: (s: string) => void (stdout += s), err: (s: string) => void (stderr += s), readStdin: async () => '' }
    const code = await run(argv, env, io, () => kv as unknown as Kv, fetchFn)
    return { code, stdout, stderr }
  }
  return { dir, objects, seen, kv, leanctl }
}

test('component push checks, uploads once, and prints the digest and a document to apply', async (t) => {
  const { dir, objects, seen, leanctl } = await fixture(t)
  const file = path.join(dir, 'svc.wasm')
  await writeFile(file, good)
  const digest = sha(good)
  const document = `${JSON.stringify({ kind: 'wasm-service', component: { sha256: digest }, count: 1 }, null, 2)}\n`

  assert.deepEqual(await leanctl(['component', 'push', file]), {
    code: 0,
    stdout: document,
    stderr: `${file}: sha256 ${digest}, ${good.length} B, uploaded to components/${digest}.wasm\n`,
  })
  assert.deepEqual(objects.objects.get(`components/${digest}.wasm`)?.bytes, good)
  assert.deepEqual(seen, [`HEAD ${origin}/v1/components/${digest}`, `PUT ${origin}/v1/components/${digest}`])
  parseAppSpec('svc', document) // what it prints is a valid document

  seen.length = 0
  const again = await leanctl(['component', 'push', file])
  assert.equal(again.stderr, `${file}: sha256 ${digest}, ${good.length} B, already stored as components/${digest}.wasm\n`)
  assert.equal(again.stdout, document)
  assert.deepEqual(seen, [`HEAD ${origin}/v1/components/${digest}`])
})

test('component push refuses, before any request, a file the engine could not run, naming each reason', async (t) => {
  const { dir, objects, leanctl } = await fixture(t)
  const none: Fetch = async () => assert.fail('nothing may be sent')
  const core = path.join(dir, 'core.wasm')
  await writeFile(core, coreModule())
  assert.deepEqual(await leanctl(['component', 'push', core], none), {
    code: 2,
    stdout: '',
    stderr: `error: ${core} is refused (LEAN_ERR_COMPONENT_CORE_MODULE):\n  a core module, not a component (build for wasm32-wasip2 or run \`wasm-tools component new\`)\n`,
  })
  const odd = path.join(dir, 'odd.wasm')
  await writeFile(odd, component({ imports: ['wasi:io/poll@0.2.0', 'acme:db/query@1.0.0', 'wasi:keyvalue/store@0.2.0-draft'], exports: [] }))
  assert.deepEqual(await leanctl(['component', 'push', odd], none), {
    code: 2,
    stdout: '',
    stderr: [
      `error: ${odd} is refused (LEAN_ERR_COMPONENT_UNSUPPORTED):`,
      '  exports no wasi:http/incoming-handler',
      '  imports acme:db/query@1.0.0, which the engine does not provide',
      '  imports wasi:keyvalue/store@0.2.0-draft, which the engine does not provide',
      '',
    ].join('\n'),
  })
  const missing = await leanctl(['component', 'push', path.join(dir, 'gone.wasm')], none)
  assert.deepEqual([missing.code, missing.stderr], [2, `error: ${path.join(dir, 'gone.wasm')}: cannot read (no such file)\n`])
  assert.equal(objects.objects.size, 0)
})

test('apply with component.file pushes the file (relative to the document) and stores its sha256 in place of file', async (t) => {
  const { dir, objects, seen, kv, leanctl } = await fixture(t)
  await mkdir(path.join(dir, 'build'))
  const wasm = path.join(dir, 'build', 'svc.wasm')
  await writeFile(wasm, good)
  const doc = path.join(dir, 'svc.yaml')
  await writeFile(doc, 'kind: wasm-service\ncomponent: { file: ./build/svc.wasm }\ncount: 2\n')
  const digest = sha(good)

  assert.deepEqual(await leanctl(['apply', '-f', doc]), {
    code: 0,
    stdout: `${wasm}: sha256 ${digest}, ${good.length} B, uploaded to components/${digest}.wasm\napp/svc created\n`,
    stderr: '',
  })
  assert.deepEqual(JSON.parse(kv.data.get(`${APPS}svc`)!.value), { kind: 'wasm-service', component: { sha256: digest }, count: 2 })
  assert.equal(objects.objects.size, 1)

  seen.length = 0
  assert.deepEqual(await leanctl(['apply', '-f', doc]), {
    code: 0,
    stdout: `${wasm}: sha256 ${digest}, ${good.length} B, already stored as components/${digest}.wasm\napp/svc unchanged\n`,
    stderr: '',
  })
  assert.deepEqual(seen, [`HEAD ${origin}/v1/components/${digest}`])
})

test('apply with component.file: an invalid document or component uploads nothing and writes nothing', async (t) => {
  const { dir, objects, kv, leanctl } = await fixture(t)
  const none: Fetch = async () => assert.fail('nothing may be sent')
  await writeFile(path.join(dir, 'svc.wasm'), good)
  await writeFile(path.join(dir, 'core.wasm'), coreModule())
  const cases: Array<[string, string]> = [
    ['{"kind":"wasm-service","component":{"file":"svc.wasm"},"count":"many"}', 'invalid count: expected a whole number from 0 to 1000\n'],
    [`{"kind":"wasm-service","component":{"file":"svc.wasm","sha256":"${'ab'.repeat(32)}"}}`, "invalid component.file: give file or sha256, not both (leanctl puts the file's sha256 in place of file)\n"],
    ['{"kind":"wasm-service","component":{"file":"svc.wasm","source":"https://example.com/x.wasm"}}', 'invalid component.file: the file is uploaded to s3://artifacts/components/<sha256>.wasm, the default source: leave component.source out\n'],
    ['{"kind":"wasm-service","component":{"file":"svc.js"}}', 'invalid component.file: expected the path of a .wasm file, got "svc.js"\n'],
    ['{"kind":"wasm-service","component":{"file":"core.wasm"}}', `error: ${path.join(dir, 'core.wasm')} is refused (LEAN_ERR_COMPONENT_CORE_MODULE):\n  a core module, not a component (build for wasm32-wasip2 or run \`wasm-tools component new\`)\n`],
  ]
  for (const [text, stderr] of cases) {
    const doc = path.join(dir, 'svc.json')
    await writeFile(doc, text)
    assert.deepEqual(await leanctl(['apply', '-f', doc], none), { code: 2, stdout: '', stderr }, text)
  }
  assert.equal(objects.objects.size, 0)
  assert.equal(kv.data.size, 0)
})

test("apply with component.file: the controller's refusal stops it before the document is written", async (t) => {
  const { dir, objects, kv, leanctl } = await fixture(t, 64)
  await writeFile(path.join(dir, 'svc.wasm'), good)
  await writeFile(path.join(dir, 'svc.json'), '{"kind":"wasm-service","component":{"file":"svc.wasm"}}')
  const res = await leanctl(['apply', '-f', path.join(dir, 'svc.json')])
  assert.equal(res.code, 1)
  assert.match(res.stderr, /^error: the controller refused PUT \/v1\/components\/[0-9a-f]{64}: 413 LEAN_ERR_COMPONENT_TOO_LARGE the component is larger than the 64 bytes/)
  assert.equal(objects.objects.size, 0)
  assert.equal(kv.data.size, 0)
})

test('validate with component.file checks the file and validates with its digest; nothing is sent', async (t) => {
  const { dir, leanctl } = await fixture(t)
  const none: Fetch = async () => assert.fail('nothing may be sent')
  await writeFile(path.join(dir, 'svc.wasm'), good)
  await writeFile(path.join(dir, 'svc.yaml'), 'kind: wasm-service\ncomponent: { file: svc.wasm }\n')
  assert.deepEqual(await leanctl(['validate', '-f', path.join(dir, 'svc.yaml')], none), { code: 0, stdout: 'valid\n', stderr: '' })
})

test('the validator of stored documents knows no component.file: only leanctl does', () => {
  assert.throws(
    () => parseAppSpec('svc', JSON.stringify({ kind: 'wasm-service', component: { file: './svc.wasm' } })),
    (err: unknown) => err instanceof SpecError && err.field === 'component.file' && /unknown field/.test(err.reason),
  )
})
