// Names cannot be taken over: an app that asks for another app's service name
// or ingress host on the real cloud gets an `invalid` status naming the owner
// and no job, so the owner's DNS records and URL stay its own; when the owner
// goes, the next app in line gets the name without its document changing.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { AppStatus } from '../../../controller/app-status.ts'
import { loadControllerConfig } from '../../../controller/config.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { NomadApi } from '../../../controller/nomad-api.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { asController } from '../../harness/controller-identity.ts'
import { consul } from '../../harness/consul-http.ts'
import { uniqueName } from '../../harness/names.ts'
import { stopJob } from '../../harness/wasm-job.ts'

test('a second app asking for a taken service name or ingress host is invalid and runs nothing, until the owner goes', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = loadControllerConfig(await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }))
  const controller = startController(config, pino({ level: 'error' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const nomad = new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace)
  const owner = uniqueName('owner')
  const thief = uniqueName('thief')
  const hostThief = uniqueName('hosts')
  t.after(async () => {
    await controller.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    for (const job of [owner, thief, hostThief]) await stopJob(env.NOMAD_ADDR!, job).catch(() => {})
  })
  const hello = await helloComponent()
  const doc = (extra: object) => JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count: 1, service: { checkPath: '/' }, ...extra })
  const status = async (name: string) => {
    const entry = await kv.get(`${config.statusPrefix}${name}`)
    return entry && (JSON.parse(entry.value) as AppStatus)
  }
  const phase = (name: string, want: string) =>
    waitFor(async () => ((await status(name))?.phase === want ? (await status(name))! : false), { timeoutMs: 120_000, intervalMs: 250, what: `${name} ${want}` })

  await kv.set(`${config.appsPrefix}${owner}`, doc({ ingress: true }))
  await phase(owner, 'running')
  await kv.set(`${config.appsPrefix}${thief}`, doc({ service: { name: owner, checkPath: '/' } }))
  await kv.set(`${config.appsPrefix}${hostThief}`, doc({ ingress: { host: owner } }))
  const refused = await phase(thief, 'invalid')
  assert.equal(refused.lastError, `service.name: the service "${owner}" belongs to app ${owner}, which declared it first`)
  assert.equal((await phase(hostThief, 'invalid')).lastError, `ingress.host: the ingress host "${owner}" belongs to app ${owner}, which declared it first`)
  assert.equal(await nomad.job(thief), undefined, 'no job for the thief')
  assert.equal(await nomad.job(hostThief), undefined, 'no job for the host thief')
  const instances = await consul<Array<{ ServiceID: string }>>(env.CONSUL_HTTP_ADDR!, 'GET', `/v1/catalog/service/${owner}`)
  assert.ok(instances.length >= 1 && instances.every((i) => i.ServiceID.includes(owner) && !i.ServiceID.includes(thief)), "only the owner's instances answer for its name")

  // The owner goes: the thief, next in line, gets the name and runs, its document unchanged.
  await kv.delete(`${config.appsPrefix}${owner}`)
  await phase(thief, 'running')
})
