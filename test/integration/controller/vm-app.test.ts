// A `vm` app end to end: a document in Consul KV → the controller's job →
// the virt driver's domain → the guest's HTTP through Consul SRV; `state`
// stops and starts it; deleting the key removes the domain and its files.
import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import type { AppStatus } from '../../../controller/app-status.ts'
import { loadControllerConfig } from '../../../controller/config.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { layout } from '../../../infra/cloud/config.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { uniqueName } from '../../harness/names.ts'
import { runningDomains, tinyImage } from '../../harness/vm-job.ts'
import { allocations, stopJob } from '../../harness/wasm-job.ts'

const BOOT_MS = 240_000
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  )

test('a vm document becomes a running VM that answers by name; state stops and starts it; deleting the key removes it', async (t) => {
  const { config: cloud, env } = await useCloud()
  const image = await tinyImage(env)
  const root = uniqueName('lean-test')
  const config = loadControllerConfig({
    ...env,
    LEAN_APPS_PREFIX: `${root}/apps/`,
    LEAN_STATUS_PREFIX: `${root}/status/`,
  })
  const controller = startController(config, pino({ level: 'warn' }))
  t.after(() => controller.stop())
  const kv = new ConsulKv(config.consulAddr, config.consulToken)
  t.after(() => kv.deleteTree(`${root}/`).catch(() => {}))
  const name = uniqueName('vm')
  t.after(() => stopJob(env.NOMAD_ADDR!, name).catch(() => {}))

  const doc = (state: 'running' | 'stopped') =>
    JSON.stringify({
      kind: 'vm',
      image: { sha256: image.sha256 },
      memory: '128MiB',
      cloudInit: { hostname: `${name}-guest` },
      ports: { http: 8080 },
      service: { port: 'http', checkPath: '/', checkIntervalSeconds: 2 },
      state,
    })
  const status = async () => {
    const entry = await kv.get(`${config.statusPrefix}${name}`)
    return entry ? (JSON.parse(entry.value) as AppStatus) : undefined
  }
  const vmDomains = async () => {
    const allocs = await allocations(env.NOMAD_ADDR!, name)
    const domains = await runningDomains(cloud)
    return domains.filter((d) => allocs.some((a) => d.startsWith(`lc-${a.ID.slice(0, 8)}-`)))
  }
  const answers = async () => {
    const url = await serviceUrl(env.CONSUL_DNS_ADDR!, name, BOOT_MS)
    return waitFor(
      async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
        const text = res?.ok ? await res.text() : ''
        return text.includes(`${name}-guest`) ? text : false
      },
      { timeoutMs: 60_000, what: `${name}.service.consul to serve the guest's page` },
    )
  }

  await kv.set(`${config.appsPrefix}${name}`, doc('running'))
  await waitFor(async () => (await status())?.phase === 'running', {
    timeoutMs: BOOT_MS,
    intervalMs: 500,
    what: 'the vm app to run',
  })
  assert.match(await answers(), /Hello from/)
  const [first] = await vmDomains()
  assert.ok(first, "its domain runs in the cloud's libvirtd")

  await kv.set(`${config.appsPrefix}${name}`, doc('stopped'))
  await waitFor(async () => (await vmDomains()).length === 0, {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: 'state stopped to power the VM off',
  })
  const stopped = await waitFor(
    async () => {
      const s = await status()
      return s?.phase === 'stopped' ? s : false
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'the status to show the app stopped' },
  )
  assert.equal(stopped.healthy, 0)
  assert.equal(stopped.desired, 0)

  await kv.set(`${config.appsPrefix}${name}`, doc('running'))
  await waitFor(async () => (await status())?.phase === 'running' && (await status())?.healthy === 1, {
    timeoutMs: BOOT_MS,
    intervalMs: 500,
    what: 'state running to start it again',
  })
  assert.match(await answers(), /Hello from/)
  const allocs = await allocations(env.NOMAD_ADDR!, name)
  const live = allocs.filter((a) => a.ClientStatus === 'running')
  assert.equal(live.length, 1)
  const taskDir = path.join(layout(cloud).nomadData, 'alloc', live[0]!.ID, name, 'virt')
  assert.ok(await exists(taskDir), 'the running VM has its files (seed, console) in its task dir')

  await kv.delete(`${config.appsPrefix}${name}`)
  await waitFor(async () => (await vmDomains()).length === 0 && !(await exists(taskDir)), {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: "deleting the key to remove the domain and the task's files",
  })
  await waitFor(async () => (await status()) === undefined, {
    timeoutMs: 30_000,
    what: 'the status to go with the app',
  })
})
