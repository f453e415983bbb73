// 100 malformed documents: each gets an `invalid` status naming the field,
// the controller keeps running, and a valid app next to them is unaffected.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
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
import { stopJob } from '../../harness/wasm-job.ts'

const sha256 = 'ef'.repeat(32)

/** Documents that must each be refused, with the field the refusal must name. */
function malformed(): Array<[string, string]> {
  const docs: Array<[string, string]> = [
    ['{', '$'],
    ['', '$'],
    ['null', '$'],
    ['[]', '$'],
    ['"wasm-service"', '$'],
    ['{"kind":"container"}', 'kind'],
    ['{"kind":"vm"}', 'image'],
    ['{"kind":null}', 'kind'],
    [JSON.stringify({ kind: 'wasm-service' }), 'component'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256: 'xyz' } }), 'component.sha256'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256, source: 'ftp://x' } }), 'component.source'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, count: 1e12 }), 'count'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, count: -1 }), 'count'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, count: 1.5 }), 'count'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, port: { static: 0 } }), 'port.static'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, port: 'fixed' }), 'port'],
    [
      JSON.stringify({ kind: 'wasm-service', component: { sha256 }, service: { name: 'Bad Name' } }),
      'service.name',
    ],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, instances: 5000 }), 'instances'],
    [
      JSON.stringify({ kind: 'wasm-service', component: { sha256 }, grants: { buckets: ['../etc'] } }),
      'grants.buckets[0]',
    ],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, grants: { mail: 'yes' } }), 'grants.mail'],
    [
      JSON.stringify({ kind: 'wasm-service', component: { sha256 }, limits: { instanceMemory: 'lots' } }),
      'limits.instanceMemory',
    ],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, resources: { cpu: 1 } }), 'resources.cpu'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, env: { A: 1 } }), 'env.A'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, env: { A: 'x'.repeat(70_000) } }), '$'],
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, __proto__x: 1 }), '__proto__x'],
    // Control characters, and a check path Nomad would fill in when it registers the check.
    [JSON.stringify({ kind: 'wasm-service', component: { sha256 }, env: { A: 'a\u0000b' } }), 'env.A'],
    [
      JSON.stringify({ kind: 'wasm-service', component: { sha256, source: '/srv/x\u0001.wasm' } }),
      'component.source',
    ],
    [
      JSON.stringify({
        kind: 'wasm-service',
        component: { sha256 },
        service: { checkPath: '/${NOMAD_TOKEN}' },
      }),
      'service.checkPath',
    ],
  ]
  // Fill to 100 with unknown fields and wrong types of every scalar field.
  for (let i = 0; docs.length < 100; i++) {
    const field = ['count', 'instances', 'port', 'service', 'grants'][i % 5]!
    const value = [true, 'text', [1], { nested: { deep: i } }, -i][Math.floor(i / 5) % 5]
    docs.push([JSON.stringify({ kind: 'wasm-service', component: { sha256 }, [field]: value }), field])
  }
  return docs
}

test('100 malformed specs each get an invalid status naming the field; valid apps are unaffected', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  // The controller acts with least-privilege tokens of its own; the test writes desired state as the operator.
  const config = loadControllerConfig(
    await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }),
  )
  const controller = startController(config, pino({ level: 'error' }))
  t.after(() => controller.stop())
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const api = new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace)
  const hello = await helloComponent()
  const good = uniqueName('good')
  t.after(async () => {
    await kv.delete(`${config.appsPrefix}${good}`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, good).catch(() => {})
  })
  await kv.set(
    `${config.appsPrefix}${good}`,
    JSON.stringify({
      kind: 'wasm-service',
      component: { sha256: hello.sha256, source: hello.file },
      count: 1,
      service: { checkPath: '/' },
    }),
  )

  const docs = malformed()
  assert.equal(docs.length, 100)
  const names = docs.map((_, i) => `bad-${i}`)
  await Promise.all(docs.map(([doc], i) => kv.set(`${config.appsPrefix}${names[i]}`, doc)))
  // Hostile key names are not apps: they get no job and no crash.
  await kv.set(`${config.appsPrefix}Bad_Name`, '{}')
  await kv.set(`${config.appsPrefix}nested/key`, '{}')
  t.after(() => kv.deleteTree(`${root}/`).catch(() => {}))

  const statuses = await waitFor(
    async () => {
      const { entries } = await kv.list(config.statusPrefix)
      const byName = new Map(
        entries.map((e) => [e.key.slice(config.statusPrefix.length), JSON.parse(e.value) as AppStatus]),
      )
      return names.every((n) => byName.get(n)?.phase === 'invalid') && byName.get(good)?.phase === 'running'
        ? byName
        : false
    },
    {
      timeoutMs: 90_000,
      intervalMs: 500,
      what: 'an invalid status for each malformed spec and a running good app',
    },
  )
  docs.forEach(([doc, field], i) => {
    const error = statuses.get(names[i]!)!.lastError!
    assert.ok(
      error.startsWith(`${field}: `) || error.startsWith(`${field}.`),
      `${doc.slice(0, 60)} → ${error} (expected field ${field})`,
    )
  })
  assert.equal(statuses.get('Bad_Name')?.phase, 'invalid')
  assert.match(statuses.get('Bad_Name')!.lastError!, /^name: /)
  // A nested key is not silently ignored: its status says why it is no app.
  const nested = await waitFor(
    async () => statuses.get('nested/key') ?? (await kv.get(`${config.statusPrefix}nested/key`)),
    { timeoutMs: 30_000, what: 'a status for the nested key' },
  )
  const nestedStatus = 'phase' in nested ? nested : (JSON.parse(nested.value) as AppStatus)
  assert.equal(nestedStatus.phase, 'invalid')
  assert.match(
    nestedStatus.lastError!,
    /^name: a key below the apps prefix names one app, with no further "\/"/,
  )
  for (const name of names.slice(0, 10))
    assert.equal(await api.job(name), undefined, 'nothing is registered for an invalid spec')
  assert.equal((await api.job(good))?.Stop, false)
})
