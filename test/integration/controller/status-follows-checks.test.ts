// `healthy` counts allocations whose Consul checks pass, not allocations that
// merely run: an app whose instances run but whose check fails is never
// `running`; fixing the check path makes it run; and a running app whose
// check turns critical later (a service put in maintenance: no allocation
// changes) is seen within seconds, by the health watch alone, and seen
// recovering too.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { AppStatus } from '../../../controller/app-status.ts'
import { loadControllerConfig } from '../../../controller/config.ts'
import { asController } from '../../harness/controller-identity.ts'
import { ConsulHealth } from '../../../controller/consul-health.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { allocIdOf } from '../../../controller/service-health.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { consulHeaders } from '../../harness/consul-http.ts'
import { uniqueName } from '../../harness/names.ts'
import { allocations, stopJob } from '../../harness/wasm-job.ts'

test('status counts allocations whose Consul checks pass', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  // The controller acts with least-privilege tokens of its own; the test writes desired state as the operator.
  const config = loadControllerConfig(await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }))
  const controller = startController(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const name = uniqueName('app')
  t.after(async () => {
    await controller.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, name).catch(() => {})
  })
  const hello = await helloComponent()
  // The hello component answers 200 on every path but /trap, where it traps: 500.
  const spec = (checkPath: string) =>
    JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count: 2, service: { checkPath, checkIntervalSeconds: 1 } })
  const phases: string[] = []
  const waitStatus = (ok: (s: AppStatus) => boolean, what: string, timeoutMs = 90_000) =>
    waitFor(async () => {
      const entry = await kv.get(`${config.statusPrefix}${name}`)
      const s = entry && (JSON.parse(entry.value) as AppStatus)
      if (s && phases.at(-1) !== s.phase) phases.push(s.phase)
      return s && ok(s) ? s : false
    }, { timeoutMs, intervalMs: 100, what })

  await t.test('instances that run but fail their check: healthy 0, never running', async () => {
    await kv.set(`${config.appsPrefix}${name}`, spec('/trap'))
    // Both allocations past their start grace: until then one may still count as starting.
    const s = await waitStatus((s) => s.phase === 'unhealthy' && /^2 running/.test(s.lastError ?? ''), 'the app to show both allocations unhealthy')
    assert.equal(s.healthy, 0)
    assert.equal(s.desired, 2)
    // Consul's catalog shows no output for a check critical since it was registered (for up to 5 min).
    assert.match(s.lastError!, /^2 running allocation\(s\) fail their Consul checks; allocation [0-9a-f]{8}: app-.*: check "app-.* http" critical: /)
    const running = (await allocations(env.NOMAD_ADDR!, name)).filter((a) => a.ClientStatus === 'running')
    assert.equal(running.length, 2, 'both allocations run all the same')
    await new Promise((r) => setTimeout(r, 3000))
    await waitStatus((s) => s.phase === 'unhealthy' && s.healthy === 0, 'the app to stay unhealthy')
    assert.ok(!phases.includes('running'), `phases seen: ${phases.join(' → ')}`)
  })

  await t.test('the check path fixed: healthy 2, running', async () => {
    await kv.set(`${config.appsPrefix}${name}`, spec('/'))
    const s = await waitStatus((s) => s.phase === 'running', 'the app to run')
    assert.equal(s.healthy, 2)
    assert.equal(s.lastError, null)
  })

  await t.test('a running app whose check turns critical is seen within seconds, and seen recovering', async () => {
    const health = new ConsulHealth(config.consulAddr, config.consulToken)
    const ours = new Set((await allocations(env.NOMAD_ADDR!, name)).filter((a) => a.ClientStatus === 'running').map((a) => a.ID))
    const [instance] = (await health.instances(name)).filter((i) => ours.has(allocIdOf(i.id) ?? ''))
    assert.ok(instance, 'an instance of the app is registered')
    const maintenance = (enable: boolean) =>
      fetch(`${config.consulAddr}/v1/agent/service/maintenance/${encodeURIComponent(instance.id)}?enable=${enable}&reason=test`, { method: 'PUT', headers: consulHeaders() }).then((res) => assert.equal(res.status, 200))
    t.after(() => maintenance(false).catch(() => {}))

    const started = Date.now()
    await maintenance(true)
    const s = await waitStatus((s) => s.healthy === 1, 'the status to drop to 1 healthy', 10_000)
    const seconds = (Date.now() - started) / 1000
    assert.equal(s.phase, 'unhealthy')
    assert.match(s.lastError!, /^1 running allocation\(s\) fail their Consul checks; .*critical: test$/)
    assert.ok(seconds < 5, `noticed after ${seconds} s`)

    await maintenance(false)
    const back = await waitStatus((s) => s.phase === 'running' && s.healthy === 2, 'the status to come back', 10_000)
    assert.equal(back.lastError, null)
  })
})
