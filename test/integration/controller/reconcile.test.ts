// The controller against the real Consul and Nomad: a spec in KV becomes a
// running job, follows changes, comes back when stopped out of band, stays
// put when the spec turns invalid, goes when the key goes, and a job it does
// not own is never touched.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { META_OWNER, OWNER } from '../../../jobs/app-spec.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import type { AppStatus } from '../../../controller/app-status.ts'
import { loadControllerConfig } from '../../../controller/config.ts'
import { asController } from '../../harness/controller-identity.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { stopJob, wasmJob } from '../../harness/wasm-job.ts'

test('the controller keeps Nomad in line with the specs in Consul KV', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  // The controller acts with least-privilege tokens of its own; the test writes desired state as the operator.
  const config = loadControllerConfig(await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }))
  const controller = startController(config, pino({ level: 'warn' }))
  t.after(() => controller.stop())
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  t.after(() => kv.deleteTree(`${root}/`).catch(() => {}))
  const api = new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace)
  const hello = await helloComponent()
  const spec = (count: number) => JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count, service: { checkPath: '/' } })
  const status = async (name: string) => {
    const entry = await kv.get(`${config.statusPrefix}${name}`)
    return entry ? (JSON.parse(entry.value) as AppStatus) : undefined
  }
  const waitStatus = (name: string, ok: (s: AppStatus) => boolean, what: string) =>
    waitFor(async () => {
      const s = await status(name)
      return s && ok(s) ? s : false
    }, { timeoutMs: 90_000, intervalMs: 200, what })

  const name = uniqueName('app')
  t.after(async () => {
    await kv.delete(`${config.appsPrefix}${name}`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, name).catch(() => {})
  })

  await t.test('a spec put in KV becomes a running job, and the status says so', async () => {
    await kv.set(`${config.appsPrefix}${name}`, spec(1))
    const s = await waitStatus(name, (s) => s.phase === 'running', 'the app to run')
    assert.equal(s.healthy, 1)
    assert.equal(s.desired, 1)
    const job = await api.job(name)
    assert.equal(job?.Meta?.[META_OWNER], OWNER)
  })

  await t.test('changing the count: Nomad follows', async () => {
    await kv.set(`${config.appsPrefix}${name}`, spec(2))
    await waitStatus(name, (s) => s.phase === 'running' && s.healthy === 2, 'two running allocations')
    assert.equal((await api.job(name))?.TaskGroups?.[0]?.Count, 2)
  })

  await t.test('a job stopped out of band is put back', async () => {
    const before = (await api.job(name))!.Version ?? 0
    await nomad(env.NOMAD_ADDR!, 'DELETE', `/v1/job/${name}`)
    await waitFor(async () => {
      const job = await api.job(name)
      return job !== undefined && !job.Stop && (job.Version ?? 0) > before
    }, { timeoutMs: 90_000, what: 'the controller to restore the stopped job' })
    await waitStatus(name, (s) => s.phase === 'running' && s.healthy === 2, 'the restored job to run')
  })

  await t.test('an invalid spec is not applied: the status names the field, the job keeps running', async () => {
    const version = (await api.job(name))!.Version
    await kv.set(`${config.appsPrefix}${name}`, JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256 }, count: 'many' }))
    const s = await waitStatus(name, (s) => s.phase === 'invalid', 'the invalid status')
    assert.match(s.lastError!, /^count: expected a whole number/)
    const job = await api.job(name)
    assert.equal(job?.Version, version)
    assert.equal(job?.Stop, false)
  })

  await t.test('deleting the key stops and purges the job', async () => {
    await kv.delete(`${config.appsPrefix}${name}`)
    await waitFor(async () => (await api.job(name)) === undefined, { timeoutMs: 90_000, what: 'the job to be purged' })
    await waitFor(async () => (await status(name)) === undefined, { timeoutMs: 60_000, what: 'the status to be removed' })
  })

  await t.test('a job of the same name that the controller does not own is never touched', async () => {
    const other = uniqueName('theirs')
    await nomad(env.NOMAD_ADDR!, 'PUT', '/v1/jobs', wasmJob(other, hello, { instances: 1 }))
    t.after(() => stopJob(env.NOMAD_ADDR!, other).catch(() => {}))
    const version = (await api.job(other))!.Version
    await kv.set(`${config.appsPrefix}${other}`, spec(3))
    const s = await waitStatus(other, (s) => s.phase === 'failed', 'the conflict status')
    assert.match(s.lastError!, /exists that this controller does not own; it is left alone/)
    await kv.delete(`${config.appsPrefix}${other}`)
    await waitFor(async () => (await status(other)) === undefined, { timeoutMs: 60_000, what: 'the status to be removed' })
    const job = await api.job(other)
    assert.equal(job?.Version, version)
    assert.equal(job?.Stop, false)
  })
})
