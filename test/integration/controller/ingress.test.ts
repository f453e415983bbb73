// The cloud's ingress on the real cloud: cloud:up registers the HAProxy system
// job in the cloud's system namespace, HAProxy runs as nobody, `up` puts it
// back when it is stopped out of band, and
// an app whose document says `"ingress": true` is reached at
// `<app>.lean.localhost` on the ingress port. While requests flow, the PDF app
// is scaled 6 → 3, two of its allocations are killed (SIGKILL of their task
// processes), another app appears behind the ingress (a reload) and goes
// away again (another), and it is scaled back to 6: not one request fails.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { test } from 'node:test'
import pino from 'pino'
import { loadControllerConfig } from '../../../controller/config.ts'
import { asController } from '../../harness/controller-identity.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { up } from '../../../infra/cloud/up.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { INGRESS_JOB, INGRESS_OWNER, META_INGRESS_OWNER } from '../../../jobs/ingress.ts'
import { PDF_BUCKET } from '../../../ground/buckets.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent, pdfComponent } from '../../harness/components.ts'
import { ingressClient, waitForIngress, waitForRoute, type IngressAnswer } from '../../../infra/cloud/ingress-client.ts'
import { uniqueName } from '../../harness/names.ts'
import { consul } from '../../harness/consul-http.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { allocations, stopJob, taskProcessPids } from '../../harness/wasm-job.ts'

const REQUESTS = 400
/** A user's uid, as `id -u` says. */
const uidOf = (name: string) => Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim())
const log = (m: string) => process.stderr.write(`[ingress test] ${m}\n`)

/** The tail of the running ingress allocation's stdout (HAProxy logs server state changes there). */
async function ingressLogTail(addr: string, namespace: string): Promise<string> {
  const stubs = await nomad<Array<{ ID: string; ClientStatus: string }>>(addr, 'GET', `/v1/job/${INGRESS_JOB}/allocations?namespace=${namespace}`)
  const alloc = stubs.find((a) => a.ClientStatus === 'running')
  if (!alloc) return '(no running ingress allocation)'
  const res = await fetch(`${addr}/v1/client/fs/logs/${alloc.ID}?task=haproxy&type=stdout&plain=true&origin=end&offset=12000`, { headers: nomadHeaders() })
  return (await res.text()).split('\n').filter((l) => !/^Proxy |HTTPCLIENT/.test(l)).slice(-60).join('\n')
}

interface Outcome {
  readonly at: number
  readonly phase: string
  readonly answer?: IngressAnswer
  readonly error?: string
}

test('the ingress loses no request while its app is scaled 6 → 3 → 6 and two allocations are killed', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  // The controller acts with least-privilege tokens of its own; the test writes desired state as the operator.
  const config = loadControllerConfig(await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }))
  const { config: cloud } = await useCloud()
  const port = cloud.ingress.port
  const controller = startController(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const client = ingressClient(port)
  const pdfName = uniqueName('pdf')
  const helloName = uniqueName('hello')
  t.after(async () => {
    client.close()
    await controller.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    for (const job of [pdfName, helloName]) await stopJob(env.NOMAD_ADDR!, job).catch(() => {})
  })
  const [pdf, hello] = await Promise.all([pdfComponent(), helloComponent()])
  const pdfDoc = (count: number) =>
    JSON.stringify({
      kind: 'wasm-service',
      component: { sha256: pdf.sha256, source: pdf.file },
      count,
      service: { checkPath: '/health', checkIntervalSeconds: 2 },
      instances: 2,
      grants: { buckets: [PDF_BUCKET], requestLog: true },
      env: { PDF_BUCKET },
      resources: { cpu: 100, memoryMB: 256 },
      ingress: true,
    })
  const passing = async (service: string) =>
    (await consul<unknown[]>(env.CONSUL_HTTP_ADDR!, 'GET', `/v1/health/service/${service}?passing=true`)).length
  const running = async (job: string) => (await allocations(env.NOMAD_ADDR!, job)).filter((a) => a.ClientStatus === 'running')
  /**
   * The job's latest version is deployed (every spec change is a new version,
   * rolled out a few allocations at a time), exactly `count` allocations run
   * and pass their checks, and no other is still stopping.
   */
  const settled = (count: number, timeoutMs = 300_000) =>
    waitFor(
      async () => {
        const job = await nomad<{ Version: number; TaskGroups: Array<{ Count: number }> }>(env.NOMAD_ADDR!, 'GET', `/v1/job/${pdfName}`)
        const deployment = await nomad<{ JobVersion: number; Status: string } | null>(env.NOMAD_ADDR!, 'GET', `/v1/job/${pdfName}/deployment`)
        if (job.TaskGroups[0]?.Count !== count || deployment?.JobVersion !== job.Version || deployment.Status !== 'successful') return false
        const allocs = await allocations(env.NOMAD_ADDR!, pdfName)
        const live = allocs.filter((a) => a.ClientStatus === 'running' || a.ClientStatus === 'pending')
        return live.length === count && live.every((a) => a.ClientStatus === 'running') && (await passing(pdfName)) === count
      },
      { timeoutMs, intervalMs: 250, what: `${count} passing allocations of ${pdfName}, deployed` },
    )

  await t.test('cloud:up registers the ingress in the system namespace, HAProxy runs as nobody, and up registers it again when it is stopped', async () => {
    await waitForIngress(port)
    const system = cloud.nomad.systemNamespace
    const jobPath = `/v1/job/${INGRESS_JOB}?namespace=${system}`
    const job = await nomad<{ Type: string; Meta: Record<string, string>; TaskGroups: Array<{ Tasks: Array<{ User: string }> }> }>(env.NOMAD_ADDR!, 'GET', jobPath)
    assert.equal(job.Type, 'system')
    assert.equal(job.Meta[META_INGRESS_OWNER], INGRESS_OWNER)
    assert.equal(job.TaskGroups[0]!.Tasks[0]!.User, 'nobody')
    // Every HAProxy process of this cloud (its config lies in the cloud's data dir) is nobody's.
    const owners = new Set<string>()
    for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      if (!cmdline.startsWith('/usr/sbin/haproxy') || !cmdline.includes(`${cloud.dataDir}/`)) continue
      owners.add(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]!)
    }
    assert.deepEqual([...owners], [String(uidOf('nobody'))], 'HAProxy runs as nobody')

    const allocsOf = async () => (await nomad<Array<{ ID: string; ClientStatus: string }>>(env.NOMAD_ADDR!, 'GET', `/v1/job/${INGRESS_JOB}/allocations?namespace=${system}`)) ?? []
    const before = new Set((await allocsOf()).map((a) => a.ID))
    await nomad(env.NOMAD_ADDR!, 'DELETE', jobPath)
    await up(cloud, log)
    await waitFor(
      async () => {
        const again = await nomad<{ Stop: boolean }>(env.NOMAD_ADDR!, 'GET', jobPath)
        const fresh = (await allocsOf()).filter((a) => !before.has(a.ID) && a.ClientStatus === 'running')
        return !again.Stop && fresh.length > 0
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the ingress job to be registered again and run a new allocation' },
    )
    await waitForIngress(port)
    const unknown = await client.request('no-such-app')
    assert.equal(unknown.status, 404)
    assert.match(unknown.body, /no app answers at no-such-app\.lean\.localhost/)
  })

  await t.test(`${REQUESTS} requests through the ingress, none failed, while the app changes under them`, async () => {
    await kv.set(`${config.appsPrefix}${pdfName}`, pdfDoc(6))
    await settled(6)
    await waitForRoute(client, pdfName, 200)

    let phase = 'count 6'
    let churning = true
    const outcomes: Outcome[] = []
    const started = Date.now()
    const worker = async (id: number) => {
      for (let n = 0; churning || outcomes.length < REQUESTS; n++) {
        const at = Date.now() - started
        const current = phase
        try {
          const answer = await client.request(pdfName, { json: { text: `Through the ingress: worker ${id}, request ${n}, ${current}.` } })
          outcomes.push({ at, phase: current, answer })
        } catch (err) {
          outcomes.push({ at, phase: current, error: (err as Error).message })
        }
        await new Promise((resolve) => setTimeout(resolve, 350))
      }
    }
    const load = Promise.all([worker(1), worker(2)])
    const step = async (name: string, action: () => Promise<void>) => {
      phase = name
      log(`${((Date.now() - started) / 1000).toFixed(1)} s, ${outcomes.length} requests: ${name}`)
      await action()
    }
    try {
      await waitFor(async () => outcomes.length >= 30, { timeoutMs: 60_000, intervalMs: 100, what: 'the first requests' })
      await step('scaled to 3', async () => {
        await kv.set(`${config.appsPrefix}${pdfName}`, pdfDoc(3))
        await settled(3)
      })
      await step('another app appears behind the ingress (a reload)', async () => {
        await kv.set(
          `${config.appsPrefix}${helloName}`,
          JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count: 1, service: { checkIntervalSeconds: 1 }, instances: 1, ingress: true }),
        )
        await waitForRoute(client, helloName, 200)
      })
      await step('two allocations killed', async () => {
        const victims = (await running(pdfName)).slice(0, 2)
        assert.equal(victims.length, 2)
        for (const alloc of victims) {
          const pids = await taskProcessPids(alloc.ID)
          assert.ok(pids.length > 0, `allocation ${alloc.ID} has a task process`)
          for (const pid of pids) process.kill(pid, 'SIGKILL')
        }
        // Nomad restarts the tasks in place (after its restart delay) and they pass again.
        await waitFor(async () => (await passing(pdfName)) < 3, { timeoutMs: 30_000, intervalMs: 100, what: 'the killed instances to fail their checks' })
        await settled(3)
      })
      await step('scaled to 6', async () => {
        await kv.set(`${config.appsPrefix}${pdfName}`, pdfDoc(6))
        await settled(6)
      })
      await step('the other app goes away (a reload)', async () => {
        await kv.delete(`${config.appsPrefix}${helloName}`)
        await waitForRoute(client, helloName, 404)
      })
      phase = 'count 6 again'
    } finally {
      churning = false
      await load
    }

    const failed = outcomes.filter((o) => o.error !== undefined || o.answer?.status !== 200)
    if (failed.length > 0) log(`HAProxy's log, last lines:\n${await ingressLogTail(env.NOMAD_ADDR!, cloud.nomad.systemNamespace)}`)
    const phases = [...new Set(outcomes.map((o) => o.phase))].map((p) => `${p}: ${outcomes.filter((o) => o.phase === p).length}`)
    log(`${outcomes.length} requests in ${((Date.now() - started) / 1000).toFixed(1)} s (${phases.join(', ')}); ${failed.length} failed`)
    assert.ok(outcomes.length >= REQUESTS)
    assert.deepEqual(
      failed.map((o) => `${(o.at / 1000).toFixed(1)} s (${o.phase}): ${o.error ?? `${o.answer!.status} ${o.answer!.body.slice(0, 200)}`}`),
      [],
    )
    for (const o of outcomes) assert.equal((JSON.parse(o.answer!.body) as { status: string }).status, 'stored')
    for (const p of ['scaled to 3', 'two allocations killed', 'scaled to 6']) assert.ok(outcomes.some((o) => o.phase === p), `requests ran while ${p}`)
  })
})
