// The controller's HTTP API on a running controller service: liveness,
// readiness, Prometheus metrics that move with reconciles, the app documents'
// JSON Schema, and the spec and status of each app as stored in Consul KV,
// read with the caller's token.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import pino from 'pino'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import type { AppView } from '../../../controller/http-api.ts'
import { appDocumentSchemaText } from '../../../jobs/app-document-schema.ts'
import { startControllerService } from '../../../controller/service.ts'
import { ensureConsulIdentity } from '../../../infra/cloud/agents/consul.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { isolatedControllerConfig } from '../../harness/controller-config.ts'
import { uniqueName } from '../../harness/names.ts'
import { stopJob } from '../../harness/wasm-job.ts'

const metric = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : 0
}

test("the HTTP API reports health, readiness, metrics, the documents' schema and each app", async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = await isolatedControllerConfig(env, root)
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const good = uniqueName('app')
  const bad = uniqueName('app')
  const service = await startControllerService(config, pino({ level: 'warn' }))
  t.after(async () => {
    await service.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, good).catch(() => {})
  })
  const get = async (path: string) => {
    const res = await fetch(`${service.url}${path}`, {
      headers: { 'x-consul-token': env.CONSUL_HTTP_TOKEN! },
    })
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }
  }

  assert.equal((await get('/health')).status, 200)
  await waitFor(async () => (await get('/ready')).status === 200, {
    timeoutMs: 90_000,
    what: 'the controller to be ready',
  })
  assert.deepEqual(JSON.parse((await get('/ready')).text), { ready: true, role: 'leader' })

  const hello = await helloComponent()
  await kv.set(
    `${config.appsPrefix}${good}`,
    JSON.stringify({
      kind: 'wasm-service',
      component: { sha256: hello.sha256, source: hello.file },
      count: 1,
      service: { checkPath: '/' },
    }),
  )
  await kv.set(
    `${config.appsPrefix}${bad}`,
    JSON.stringify({ kind: 'wasm-service', component: { sha256: 'nope' } }),
  )
  const apps = await waitFor(
    async () => {
      const { apps } = JSON.parse((await get('/v1/apps')).text) as { apps: AppView[] }
      return apps.find((a) => a.name === good)?.status?.phase === 'running' &&
        apps.find((a) => a.name === bad)?.status?.phase === 'invalid'
        ? apps
        : false
    },
    { timeoutMs: 90_000, intervalMs: 200, what: 'one app running and one invalid' },
  )
  assert.equal(apps.length, 2)
  assert.match(apps.find((a) => a.name === bad)!.status!.lastError!, /^component\.sha256: /)

  const one = await get(`/v1/apps/${good}`)
  assert.equal(one.status, 200)
  const view = JSON.parse(one.text) as AppView
  assert.equal((view.spec as { count: number }).count, 1)
  assert.equal(view.status?.healthy, 1)
  const missing = await get('/v1/apps/no-such-app')
  assert.equal(missing.status, 404)
  assert.equal(JSON.parse(missing.text).code, 'LEAN_ERR_APP_NOT_FOUND')

  const metrics = await get('/metrics')
  assert.match(metrics.type, /^text\/plain; version=0\.0\.4/)
  assert.ok(metric(metrics.text, 'lean_controller_reconciles_total{result="done"}') >= 2)
  assert.ok(metric(metrics.text, 'lean_controller_reconcile_duration_seconds_count') >= 2)
  assert.equal(metric(metrics.text, 'lean_controller_apps{state="desired"}'), 2)
  assert.equal(metric(metrics.text, 'lean_controller_apps{state="ready"}'), 1)
  assert.equal(metric(metrics.text, 'lean_controller_apps{state="invalid"}'), 1)
  assert.equal(metric(metrics.text, 'lean_controller_leader'), 1)
  assert.ok(
    metric(metrics.text, 'lean_controller_upstream_requests_total{target="consul",blocking="true"}') >= 1,
  )

  // The documents' schema names no app: no token, and the bytes of the published file.
  const schema = await fetch(`${service.url}/v1/schema`)
  assert.equal(schema.status, 200)
  assert.match(schema.headers.get('content-type') ?? '', /^application\/schema\+json/)
  assert.equal(await schema.text(), appDocumentSchemaText())
})

test("every read of the API needs the caller's token and acts with it: a token that may not read the apps prefix reads nothing", async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = await isolatedControllerConfig(env, root)
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const secretApp = uniqueName('app')
  const vm = uniqueName('vm')
  // A reader of another prefix only: what a token that was not granted the apps prefix can do.
  const outsider = randomUUID()
  const consulApi = {
    agent: 'Consul',
    fetchFn: fetch,
    origin: env.CONSUL_HTTP_ADDR!,
    tokenHeader: 'x-consul-token',
    token: env.CONSUL_HTTP_TOKEN!,
  } as const
  await ensureConsulIdentity(
    consulApi,
    {
      Name: uniqueName('test-outsider'),
      Description: 'reads another prefix only',
      Rules: `key_prefix "${root}/elsewhere/" { policy = "read" }\n`,
    },
    outsider,
    'a test reader of another prefix',
  )
  const service = await startControllerService(config, pino({ level: 'warn' }))
  t.after(async () => {
    await service.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
  })
  await kv.set(
    `${config.appsPrefix}${secretApp}`,
    JSON.stringify({
      kind: 'wasm-service',
      component: { sha256: 'ab'.repeat(32) },
      env: { API_KEY: 'do-not-show' },
      count: 0,
    }),
  )
  await kv.set(
    `${config.appsPrefix}${vm}`,
    JSON.stringify({
      kind: 'vm',
      image: { sha256: '5e'.repeat(32) },
      datacenters: ['nowhere'],
      cloudInit: { userData: '#cloud-config\n# a secret\n' },
    }),
  )
  const call = async (method: string, path: string, token?: string) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: token === undefined ? {} : { 'x-consul-token': token },
    })
    const text = await res.text()
    return {
      status: res.status,
      text,
      body: text ? (JSON.parse(text) as { code?: string; apps?: unknown[]; vms?: unknown[] }) : undefined,
    }
  }
  const reads = ['/v1/apps', `/v1/apps/${secretApp}`, '/v1/vms', `/v1/vms/${vm}`, '/v1/images']

  for (const path of reads) {
    const anonymous = await call('GET', path)
    assert.deepEqual(
      [anonymous.status, anonymous.body?.code],
      [401, 'LEAN_ERR_TOKEN_REQUIRED'],
      `GET ${path} without a token`,
    )
    const outside = await call('GET', path, outsider)
    assert.doesNotMatch(
      outside.text,
      /do-not-show|a secret/,
      `GET ${path} with a token of another prefix shows nothing of the documents`,
    )
    if (path === '/v1/apps' || path === '/v1/vms') {
      // A listing shows what the token may read: nothing.
      assert.equal(outside.status, 200, outside.text)
      assert.deepEqual(outside.body?.apps ?? outside.body?.vms, [])
    } else {
      assert.deepEqual(
        [outside.status, outside.body?.code],
        [403, 'LEAN_ERR_TOKEN_REFUSED'],
        `GET ${path}: ${outside.text}`,
      )
    }
  }
  assert.equal((await call('HEAD', `/v1/images/files/${'ab'.repeat(32)}.qcow2`, outsider)).status, 403)
  assert.equal((await call('HEAD', `/v1/images/files/${'ab'.repeat(32)}.qcow2`)).status, 401)

  // Many reads in a row, each with the caller's own client, do not pile up connections to Consul
  // (it refuses a client past 200 open ones with 429 "too many requests").
  for (let i = 0; i < 300; i++) {
    const res = await call('GET', '/v1/apps', env.CONSUL_HTTP_TOKEN!)
    assert.equal(res.status, 200, `read ${i + 1}: ${res.text}`)
  }

  // The operator's token reads it all.
  const operator = env.CONSUL_HTTP_TOKEN!
  assert.match((await call('GET', `/v1/apps/${secretApp}`, operator)).text, /do-not-show/)
  assert.equal((await call('GET', '/v1/apps', operator)).body?.apps?.length, 2)
  assert.match((await call('GET', `/v1/vms/${vm}`, operator)).text, /a secret/)
  assert.equal((await call('GET', '/v1/images', operator)).status, 200)
})
