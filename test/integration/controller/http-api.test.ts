// The controller's HTTP API on a running controller service: liveness,
// readiness, Prometheus metrics that move with reconciles, and the spec and
// status of each app as stored in Consul KV.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import type { AppView } from '../../../controller/http-api.ts'
import { startControllerService } from '../../../controller/service.ts'
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

test('the HTTP API reports health, readiness, metrics and each app', async (t) => {
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
    const res = await fetch(`${service.url}${path}`)
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }
  }

  assert.equal((await get('/health')).status, 200)
  await waitFor(async () => (await get('/ready')).status === 200, { timeoutMs: 90_000, what: 'the controller to be ready' })
  assert.deepEqual(JSON.parse((await get('/ready')).text), { ready: true, role: 'leader' })

  const hello = await helloComponent()
  await kv.set(`${config.appsPrefix}${good}`, JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count: 1, service: { checkPath: '/' } }))
  await kv.set(`${config.appsPrefix}${bad}`, JSON.stringify({ kind: 'wasm-service', component: { sha256: 'nope' } }))
  const apps = await waitFor(async () => {
    const { apps } = JSON.parse((await get('/v1/apps')).text) as { apps: AppView[] }
    return apps.find((a) => a.name === good)?.status?.phase === 'running' && apps.find((a) => a.name === bad)?.status?.phase === 'invalid' ? apps : false
  }, { timeoutMs: 90_000, intervalMs: 200, what: 'one app running and one invalid' })
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
  assert.ok(metric(metrics.text, 'lean_controller_upstream_requests_total{target="consul",blocking="true"}') >= 1)
})
