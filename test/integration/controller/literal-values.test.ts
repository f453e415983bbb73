// A document's values reach the component as the bytes the document holds:
// Nomad fills in `${…}` (node attributes, the task's environment, its own
// tokens) and runs `%{…}` template directives in a driver's config, so a
// value that names them must arrive escaped, not filled in and not failing
// the task. The hello component answers with its GREETING variable.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { AppStatus } from '../../../controller/app-status.ts'
import { loadControllerConfig } from '../../../controller/config.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { asController } from '../../harness/controller-identity.ts'
import { uniqueName } from '../../harness/names.ts'
import { allocAddress, allocations, stopJob } from '../../harness/wasm-job.ts'

test('env values naming ${attr.…}, ${NOMAD_…} and %{…} reach the component as written', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const config = loadControllerConfig(
    await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }),
  )
  const controller = startController(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const name = uniqueName('literal')
  t.after(async () => {
    await controller.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, name).catch(() => {})
  })
  const hello = await helloComponent()
  const greeting =
    'host=${attr.unique.hostname} alloc=${NOMAD_ALLOC_ID} dc=${node.datacenter} %{ if true }directive%{ endif } $${kept}'
  await kv.set(
    `${config.appsPrefix}${name}`,
    JSON.stringify({
      kind: 'wasm-service',
      component: { sha256: hello.sha256, source: hello.file },
      count: 1,
      service: { checkPath: '/' },
      env: { GREETING: greeting },
    }),
  )
  await waitFor(
    async () => {
      const s = await kv.get(`${config.statusPrefix}${name}`)
      const status = s && (JSON.parse(s.value) as AppStatus)
      if (status?.phase === 'failed' || status?.phase === 'invalid')
        throw new Error(`the app is ${status.phase}: ${status.lastError}`)
      return status?.phase === 'running'
    },
    { timeoutMs: 120_000, intervalMs: 500, what: `${name} running` },
  )
  const [alloc] = (await allocations(env.NOMAD_ADDR!, name)).filter((a) => a.ClientStatus === 'running')
  assert.ok(alloc, 'a running allocation')
  const body = await (await fetch(`${allocAddress(alloc)}/`)).text()
  assert.ok(
    body.includes(greeting),
    `the component saw its GREETING as written; it answered ${JSON.stringify(body.slice(0, 300))}`,
  )
})
