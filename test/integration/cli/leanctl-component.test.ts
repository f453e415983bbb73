// Publishing one's own component, as operators do it (leanctl as a child
// process), against a controller service on the tests' real Consul, Nomad and
// S3: `component push` uploads a component through the controller to
// artifacts/components/<sha256>.wasm once; the controller refuses, storing
// nothing, a core module, a wrong digest, a cut-off body and a token that may
// not write desired state; `apply` with `component: { file }` stores the
// document with the sha256, and the app runs the uploaded component.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { startControllerService } from '../../../controller/service.ts'
import { sha256Bytes } from '../../../ground/digest.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { coreModule, customSection } from '../../harness/component-binaries.ts'
import { helloComponent } from '../../harness/components.ts'
import { isolatedControllerConfig } from '../../harness/controller-config.ts'
import { operatorLeanctl } from '../../harness/leanctl.ts'
import { uniqueName } from '../../harness/names.ts'
import { allocAddress, allocations } from '../../harness/wasm-job.ts'

test('leanctl component push and apply with a component file, through the controller', { timeout: 300_000 }, async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = await isolatedControllerConfig(env, root)
  const service = await startControllerService(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const admin = s3FromEnv(env)
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-component-'))
  const app = uniqueName('svc')
  const keys: string[] = []
  t.after(async () => {
    await kv.deleteTree(`${root}/`).catch(() => {})
    await service.stop()
    await new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace).deregister(app).catch(() => {})
    for (const key of keys) await admin.removeObject('artifacts', key).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  const stored = (key: string) =>
    admin.statObject('artifacts', key).then(
      (s) => s.size,
      () => undefined,
    )
  // The operator's token and the controller's address, and for apply the Consul settings and this controller's prefixes.
  const leanctl = operatorLeanctl(env, service.url, config)

  // The hello component with a custom section of random bytes: a new digest every run, the same behaviour.
  const hello = await helloComponent()
  const bytes = Buffer.concat([await readFile(hello.file), Buffer.from(customSection('lean-test', [...randomBytes(16)]))])
  const digest = sha256Bytes(bytes)
  const key = `components/${digest}.wasm`
  keys.push(key)
  const wasm = path.join(dir, 'svc.wasm')
  await writeFile(wasm, bytes)

  await t.test('component push uploads it once and prints a document naming it', async () => {
    const first = await leanctl('component', 'push', wasm)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, new RegExp(`^${wasm}: sha256 ${digest}, [\\d.]+ MiB, uploaded to ${key}\\n$`))
    assert.deepEqual(JSON.parse(first.stdout), { kind: 'wasm-service', component: { sha256: digest }, count: 1 })
    assert.equal(await stored(key), bytes.length)
    const again = await leanctl('component', 'push', wasm)
    assert.match(again.stderr, new RegExp(`already stored as ${key}\\n$`))
  })

  await t.test('refused uploads store nothing: a core module, a wrong digest, no token, a token that may not write, a cut-off body', async () => {
    const core = coreModule()
    const corePath = path.join(dir, 'core.wasm')
    await writeFile(corePath, core)
    const local = await leanctl('component', 'push', corePath)
    assert.equal(local.code, 2)
    assert.match(local.stderr, /is refused \(LEAN_ERR_COMPONENT_CORE_MODULE\):\n {2}a core module, not a component/)

    // Past leanctl, the controller checks for itself.
    const put = (digestInUrl: string, body: Buffer, token?: string) =>
      fetch(`${service.url}/v1/components/${digestInUrl}`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/octet-stream', ...(token && { 'x-consul-token': token }) },
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as { code: string; field?: string } }))
    const other = randomBytes(32)
    keys.push(`components/${sha256Bytes(core)}.wasm`, `components/${sha256Bytes(other)}.wasm`)
    const refusals: Array<[string, Promise<{ status: number; body: { code: string; field?: string } }>, number, string]> = [
      ['a core module', put(sha256Bytes(core), core, env.CONSUL_HTTP_TOKEN), 400, 'LEAN_ERR_COMPONENT_CORE_MODULE'],
      ['bytes of another digest', put(sha256Bytes(other), bytes, env.CONSUL_HTTP_TOKEN), 400, 'LEAN_ERR_COMPONENT_DIGEST'],
      ['no token', put(sha256Bytes(other), other), 401, 'LEAN_ERR_TOKEN_REQUIRED'],
      // The controller's own token may read desired state but not write it.
      ["the controller's token", put(sha256Bytes(other), other, config.consulToken), 403, 'LEAN_ERR_TOKEN_REFUSED'],
    ]
    for (const [what, answer, status, code] of refusals) {
      const res = await answer
      assert.deepEqual([res.status, res.body.code], [status, code], what)
    }
    assert.equal(await stored(`components/${sha256Bytes(core)}.wasm`), undefined)
    assert.equal(await stored(`components/${sha256Bytes(other)}.wasm`), undefined)

    // A body cut off halfway: the connection drops, and nothing appears under its key.
    const whole = Buffer.concat([bytes, Buffer.from(customSection('cut', [...randomBytes(16)]))])
    const cutKey = `components/${sha256Bytes(whole)}.wasm`
    keys.push(cutKey)
    await new Promise<void>((resolve) => {
      const url = new URL(`${service.url}/v1/components/${sha256Bytes(whole)}`)
      const req = request(url, {
        method: 'PUT',
        headers: { 'content-length': String(whole.length), 'x-consul-token': env.CONSUL_HTTP_TOKEN! },
      })
      req.on('error', () => resolve())
      req.on('response', () => resolve())
      req.write(whole.subarray(0, whole.length >> 1), () => setTimeout(() => req.destroy(), 500))
    })
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal(await stored(cutKey), undefined)
    const head = await fetch(`${service.url}/v1/components/${sha256Bytes(whole)}`, {
      method: 'HEAD',
      headers: { 'x-consul-token': env.CONSUL_HTTP_TOKEN! },
    })
    assert.equal(head.status, 404)
  })

  await t.test('apply with component.file stores the sha256 in its place, and the app runs the uploaded component', async () => {
    const doc = path.join(dir, `${app}.yaml`)
    await writeFile(doc, 'kind: wasm-service\ncomponent: { file: ./svc.wasm }\ncount: 1\nservice: { checkPath: / }\n')
    const applied = await leanctl('apply', '-f', doc)
    assert.equal(applied.code, 0, applied.stderr)
    assert.equal(applied.stdout, `${wasm}: sha256 ${digest}, ${(bytes.length / 1024 ** 2).toFixed(1)} MiB, already stored as ${key}\napp/${app} created\n`)
    assert.deepEqual(JSON.parse((await kv.get(`${config.appsPrefix}${app}`))!.value), {
      kind: 'wasm-service',
      component: { sha256: digest },
      count: 1,
      service: { checkPath: '/' },
    })
    const waited = await leanctl('wait', app, '--timeout', '4m')
    assert.equal(waited.code, 0, `${waited.stdout}${waited.stderr}`)
    assert.match(waited.stdout, new RegExp(`app/${app} running \\(healthy 1/1\\)\\n$`))
    const [alloc] = (await allocations(config.nomadAddr, app)).filter((a) => a.ClientStatus === 'running')
    assert.ok(alloc, 'a running allocation')
    assert.equal(await (await fetch(`${allocAddress(alloc)}/`)).text(), 'hello from wasm\n')
  })
})
