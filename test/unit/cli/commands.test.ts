// The commands through run(), against an in-memory Consul KV with Consul's
// check-and-set rule, so the conflict path is tested without a race.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import type { AppStatus } from '../../../controller/app-status.ts'
import type { KvEntry } from '../../../controller/consul-kv.ts'
import type { Kv } from '../../../cli/apps.ts'
import { run } from '../../../cli/run.ts'

const sha256 = 'ab'.repeat(32)
const spec = { kind: 'wasm-service', component: { sha256 }, count: 2 }
const env = { LEAN_APPS_PREFIX: 't/apps/', LEAN_STATUS_PREFIX: 't/status/' }

class MemoryKv implements Kv {
  readonly data = new Map<string, KvEntry>()
  readonly calls: string[] = []
  #index = 100
  /** Runs just before a set is applied: a concurrent writer. */
  beforeSet?: () => void
  /** Answers for getWithIndex, one per call. */
  answers: Array<{ entry: KvEntry | undefined; index: number }> = []
  readonly waits: Array<number | undefined> = []

  put(key: string, value: string): KvEntry {
    const index = ++this.#index
    const entry = { key, value, modifyIndex: index, createIndex: this.data.get(key)?.createIndex ?? index }
    this.data.set(key, entry)
    return entry
  }
  async get(key: string) {
    this.calls.push(`get ${key}`)
    return this.data.get(key)
  }
  async getWithIndex(key: string, options: { index?: number } = {}) {
    this.calls.push(`getWithIndex ${key}`)
    this.waits.push(options.index)
    const answer = this.answers.shift()
    if (!answer) throw new Error('no more answers')
    return answer
  }
  async list(prefix: string) {
    this.calls.push(`list ${prefix}`)
    return { entries: [...this.data.values()].filter((e) => e.key.startsWith(prefix)), index: this.#index }
  }
  async set(key: string, value: string, cas?: number) {
    this.calls.push(`set ${key} cas=${cas}`)
    this.beforeSet?.()
    if (cas !== undefined && (this.data.get(key)?.modifyIndex ?? 0) !== cas) return false
    this.put(key, value)
    return true
  }
  async delete(key: string) {
    this.calls.push(`delete ${key}`)
    this.data.delete(key)
  }
}

async function leanctl(
  kv: MemoryKv,
  argv: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
) {
  let stdout = ''
  let stderr = ''
  const io = {
    out: (s: string) => void (stdout += s),
    err: (s: string) => void (stderr += s),
    readStdin: async () => options.stdin ?? '',
  }
  const code = await run(argv, { ...env, ...options.env }, io, () => kv)
  return { code, stdout, stderr }
}

const apply = (kv: MemoryKv, doc: unknown) =>
  leanctl(kv, ['apply', '-f', '-', '--name', 'pdf'], { stdin: JSON.stringify(doc) })

test('apply: created with cas=0, unchanged without a write, configured with the index it read', async () => {
  const kv = new MemoryKv()
  assert.deepEqual(await apply(kv, spec), { code: 0, stdout: 'app/pdf created\n', stderr: '' })
  assert.deepEqual(kv.calls, ['get t/apps/pdf', 'set t/apps/pdf cas=0'])
  assert.equal(kv.data.get('t/apps/pdf')?.value, JSON.stringify(spec, null, 2))

  kv.calls.length = 0
  const reordered = { count: 2, component: { sha256 }, kind: 'wasm-service' }
  assert.deepEqual(await apply(kv, reordered), { code: 0, stdout: 'app/pdf unchanged\n', stderr: '' })
  assert.deepEqual(kv.calls, ['get t/apps/pdf'])

  kv.calls.length = 0
  const index = kv.data.get('t/apps/pdf')!.modifyIndex
  assert.deepEqual(await apply(kv, { ...spec, count: 3 }), {
    code: 0,
    stdout: 'app/pdf configured\n',
    stderr: '',
  })
  assert.deepEqual(kv.calls, ['get t/apps/pdf', `set t/apps/pdf cas=${index}`])
})

test('apply: a change between our read and our write fails the check-and-set; nothing is overwritten', async () => {
  const kv = new MemoryKv()
  kv.put('t/apps/pdf', JSON.stringify(spec))
  kv.beforeSet = () => void kv.put('t/apps/pdf', JSON.stringify({ ...spec, count: 9 }))
  const result = await apply(kv, { ...spec, count: 3 })
  assert.equal(result.code, 1)
  assert.equal(result.stdout, '')
  assert.match(
    result.stderr,
    /^error: app\/pdf was changed concurrently \(t\/apps\/pdf is no longer at index 101\); nothing was written/,
  )
  assert.equal(JSON.parse(kv.data.get('t/apps/pdf')!.value).count, 9)

  // Created by someone else meanwhile: cas=0 fails the same way.
  const fresh = new MemoryKv()
  fresh.beforeSet = () => void fresh.put('t/apps/pdf', '{}')
  assert.match((await apply(fresh, spec)).stderr, /t\/apps\/pdf is no longer absent/)
})

test('apply and validate: an invalid document names the field, exits 2 and touches nothing', async () => {
  const kv = new MemoryKv()
  assert.deepEqual(await apply(kv, { ...spec, count: 'many' }), {
    code: 2,
    stdout: '',
    stderr: 'invalid count: expected a whole number from 0 to 1000\n',
  })
  assert.deepEqual(await apply(kv, { ...spec, colour: 'red' }), {
    code: 2,
    stdout: '',
    stderr:
      'invalid colour: unknown field (allowed: kind, component, count, port, service, instances, grants, limits, env, resources, ingress, spread, constraints)\n',
  })
  const yaml = await leanctl(kv, ['apply', '-f', '-', '--name', 'pdf'], {
    stdin: 'kind: wasm-service\n  count: 1\n',
  })
  assert.equal(yaml.code, 2)
  assert.match(yaml.stderr, /^error: stdin: not valid YAML: line 1, column 7: Nested mappings/)
  assert.deepEqual(kv.calls, [])
  const invalid = await leanctl(kv, ['validate', '-f', '-', '--name', 'pdf'], {
    stdin: JSON.stringify({ ...spec, port: { static: 0 } }),
  })
  assert.deepEqual(invalid, {
    code: 2,
    stdout: '',
    stderr: 'invalid port.static: expected a whole number from 1 to 65535\n',
  })
})

test('validate needs no Consul: a bad CONSUL_HTTP_ADDR does not matter to it', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await writeFile(path.join(dir, 'email.yaml'), `kind: wasm-service\ncomponent: {sha256: "${sha256}"}\n`)
  const kv = new MemoryKv()
  const badAddr = { CONSUL_HTTP_ADDR: 'http://[bad' }
  assert.deepEqual(await leanctl(kv, ['validate', '-f', path.join(dir, 'email.yaml')], { env: badAddr }), {
    code: 0,
    stdout: 'valid\n',
    stderr: '',
  })
  const status = await leanctl(kv, ['status'], { env: badAddr })
  assert.equal(status.code, 2)
  assert.match(status.stderr, /^error: CONSUL_HTTP_ADDR: not an address/)
})

test('get, status and delete of an app that does not exist exit 1', async () => {
  const kv = new MemoryKv()
  for (const argv of [
    ['get', 'pdf'],
    ['status', 'pdf'],
    ['delete', 'pdf'],
    ['wait', 'pdf'],
  ]) {
    assert.deepEqual(
      await leanctl(kv, argv),
      { code: 1, stdout: '', stderr: 'error: app/pdf not found (no key t/apps/pdf)\n' },
      argv.join(' '),
    )
  }
})

test('get shows the spec and the status, as JSON or YAML', async () => {
  const kv = new MemoryKv()
  const { modifyIndex } = kv.put('t/apps/pdf', JSON.stringify(spec))
  const json = await leanctl(kv, ['get', 'pdf'])
  assert.deepEqual(JSON.parse(json.stdout), { name: 'pdf', modifyIndex, spec, status: null })
  kv.put('t/status/pdf', JSON.stringify({ phase: 'running', healthy: 2, desired: 2 }))
  const yaml = await leanctl(kv, ['get', 'pdf', '-o', 'yaml'])
  assert.match(yaml.stdout, /^name: pdf\nmodifyIndex: \d+\nspec:\n/)
  assert.deepEqual(parse(yaml.stdout), {
    name: 'pdf',
    modifyIndex,
    spec,
    status: { phase: 'running', healthy: 2, desired: 2 },
  })
})

test('Consul failures exit 1 and name the address', async () => {
  const kv = new MemoryKv()
  kv.get = async () => {
    throw new Error('consul: kv.get: connect ECONNREFUSED 127.0.0.1:8500')
  }
  assert.deepEqual(await leanctl(kv, ['delete', 'pdf']), {
    code: 1,
    stdout: '',
    stderr:
      'error: consul: kv.get: connect ECONNREFUSED 127.0.0.1:8500 (CONSUL_HTTP_ADDR=http://127.0.0.1:8500)\n',
  })
})

const status = (over: Partial<AppStatus>): string =>
  JSON.stringify({
    name: 'pdf',
    observedIndex: 101,
    phase: 'deploying',
    healthy: 0,
    desired: 2,
    jobVersion: 0,
    lastError: null,
    lastTransitionTime: new Date().toISOString(),
    ...over,
  })

test('wait: blocks on the last index, ignores a status of an older spec, prints each change, exits 0 on running', async () => {
  const kv = new MemoryKv()
  kv.put('t/apps/pdf', JSON.stringify(spec)) // index 101
  const entry = (value: string) => ({ key: 't/status/pdf', value, modifyIndex: 0, createIndex: 0 })
  kv.answers = [
    { entry: undefined, index: 101 },
    { entry: entry(status({ observedIndex: 90, phase: 'running', healthy: 2 })), index: 105 }, // the previous spec's
    { entry: entry(status({})), index: 110 },
    { entry: entry(status({ healthy: 1 })), index: 112 },
    { entry: entry(status({ healthy: 1 })), index: 113 }, // woke up, nothing new
    { entry: entry(status({ phase: 'running', healthy: 2 })), index: 120 },
  ]
  const result = await leanctl(kv, ['wait', 'pdf', '--timeout', '10s'])
  assert.deepEqual(result, {
    code: 0,
    stdout:
      'app/pdf pending\napp/pdf deploying (healthy 0/2)\napp/pdf deploying (healthy 1/2)\napp/pdf running (healthy 2/2)\n',
    stderr: '',
  })
  assert.deepEqual(kv.waits, [undefined, 101, 105, 110, 112, 113])
})

test('wait: failed or invalid exits 1 with the last error; an index going backwards starts over', async () => {
  const kv = new MemoryKv()
  kv.put('t/apps/pdf', JSON.stringify(spec))
  const entry = (value: string) => ({ key: 't/status/pdf', value, modifyIndex: 0, createIndex: 0 })
  kv.answers = [
    { entry: entry(status({})), index: 500 },
    { entry: entry(status({})), index: 20 }, // a restarted Consul
    {
      entry: entry(
        status({ phase: 'invalid', desired: 0, lastError: 'count: expected a whole number from 0 to 1000' }),
      ),
      index: 30,
    },
  ]
  const result = await leanctl(kv, ['wait', 'pdf'])
  assert.deepEqual(result, {
    code: 1,
    stdout: 'app/pdf deploying (healthy 0/2)\napp/pdf invalid (healthy 0/0)\n',
    stderr: 'error: app/pdf is invalid: count: expected a whole number from 0 to 1000\n',
  })
  assert.deepEqual(kv.waits, [undefined, 500, undefined])
})
