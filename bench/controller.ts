// bench:controller — the controller (its own process, as deployed) against
// the real Consul and Nomad, in one run:
//   1. KV write → Nomad job registered with the new spec, p50/p99 over
//      BENCH_CHANGES (200) changes to one app; baseline: the same job
//      registered directly with PUT /v1/jobs by this process. Also printed:
//      a KV write alone, so the floor of any KV-driven path (KV write + PUT)
//      and the controller's own share above it are visible.
//   2. BENCH_SPECS (10,000) specs written at once → all registered; baseline:
//      the same jobs registered directly, as many at a time as the
//      controller has workers; the controller's RSS with all of them cached.
//   3. BENCH_IDLE_SECONDS (60) with nothing changing: the requests the
//      controller makes to Consul and Nomad (from its /metrics), beyond the
//      blocking queries already open.
// Apps have count 0 (no allocations, phase `stopped`), so the figures are the
// controller's and Nomad's registration path, not the scheduler's placement.
import { readFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { ConsulKv } from '../controller/consul-kv.ts'
import { META_SPEC_HASH, parseAppSpec, renderAppJob } from '../jobs/app-spec.ts'
import type { NomadJob } from '../jobs/nomad-job.ts'
import { waitFor } from '../infra/cloud/wait.ts'
import { useCloud } from '../test/harness/cloud.ts'
import { inNamespace } from '../test/harness/nomad-http.ts'
import { spawnController } from '../test/harness/controller-process.ts'

const CHANGES = Number(process.env.BENCH_CHANGES ?? 200)
const SPECS = Number(process.env.BENCH_SPECS ?? 10_000)
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4)

const { env } = await useCloud()
const nomadAddr = env.NOMAD_ADDR!
const nomadHeaders: Record<string, string> = env.NOMAD_TOKEN ? { 'x-nomad-token': env.NOMAD_TOKEN } : {}
const root = `bench-${Date.now().toString(36)}`
const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
const log = (m: string) => process.stdout.write(`${m}\n`)

const document = (rev: number) =>
  JSON.stringify({ kind: 'wasm-service', component: { sha256: 'ab'.repeat(32) }, count: 0, env: { REV: String(rev) } })
const rendered = (name: string, rev: number): NomadJob => renderAppJob(parseAppSpec(name, document(rev)))
const hashOf = (name: string, rev: number) => rendered(name, rev).Meta?.[META_SPEC_HASH]

async function nomad(method: string, path: string, body?: unknown): Promise<{ value: unknown; index: number }> {
  const res = await fetch(`${nomadAddr}${inNamespace(path)}`, { method, headers: nomadHeaders, ...(body !== undefined && { body: JSON.stringify(body) }) })
  const text = await res.text()
  if (!res.ok && res.status !== 404) throw new Error(`Nomad ${method} ${path}: ${res.status} ${text}`)
  return { value: res.ok && text ? JSON.parse(text) : undefined, index: Number(res.headers.get('x-nomad-index') ?? 0) }
}

/** Blocks (Nomad blocking queries) until job `id` carries `hash`. */
async function registeredWith(id: string, hash: string | undefined): Promise<void> {
  let index = 0
  for (;;) {
    const { value, index: next } = await nomad('GET', `/v1/job/${id}?index=${index}&wait=30s`)
    if ((value as { Meta?: Record<string, string> } | undefined)?.Meta?.[META_SPEC_HASH] === hash) return
    index = next
  }
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
const ms = (v: number) => `${v.toFixed(1)} ms`

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

async function upstreamCounts(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const counts = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^lean_controller_upstream_requests_total\{(.*)\} (\d+)$/.exec(line)
    if (m) counts.set(m[1]!, Number(m[2]))
  }
  return counts
}

const controller = await spawnController(
  { ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/`, LEAN_LEADER_KEY: `${root}/leader`, LEAN_CONTROLLER_WORKERS: String(WORKERS) },
  `${root}-controller`,
)
const specNames = Array.from({ length: SPECS }, (_, i) => `${root}-s${String(i).padStart(5, '0')}`)
/** The controller process's resident memory, from /proc. */
async function controllerRss(): Promise<string> {
  const status = await readFile(`/proc/${controller.child.pid}/status`, 'utf8').catch(() => '')
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN)
  return Number.isNaN(kib) ? 'unknown' : `${(kib / 1024).toFixed(0)} MiB`
}
const directNames = specNames.map((n) => `${n}-direct`)
try {
  await controller.waitForRole('leader')
  await waitFor(async () => (await fetch(`${controller.url}/ready`)).ok, { timeoutMs: 30_000, what: 'the controller to be ready' })
  log(`bench:controller  changes=${CHANGES} specs=${SPECS} idle=${IDLE_SECONDS}s workers=${WORKERS}  (prefix ${root}/)`)

  // 1. Latency of one change.
  const app = `${root}-latency`
  const direct = `${root}-direct`
  const viaController: number[] = []
  const viaDirect: number[] = []
  const kvAlone: number[] = []
  for (let rev = 0; rev < CHANGES; rev++) {
    const kvStarted = performance.now()
    await kv.set(`${root}/probe`, document(rev))
    kvAlone.push(performance.now() - kvStarted)

    const started = performance.now()
    await kv.set(`${root}/apps/${app}`, document(rev))
    await registeredWith(app, hashOf(app, rev))
    viaController.push(performance.now() - started)

    const job = rendered(direct, rev)
    const directStarted = performance.now()
    await nomad('PUT', '/v1/jobs', { Job: job })
    viaDirect.push(performance.now() - directStarted)
  }
  for (const series of [viaController, viaDirect, kvAlone]) series.sort((a, b) => a - b)
  const [p50, p99, d50, d99] = [quantile(viaController, 0.5), quantile(viaController, 0.99), quantile(viaDirect, 0.5), quantile(viaDirect, 0.99)]
  const [k50, k99] = [quantile(kvAlone, 0.5), quantile(kvAlone, 0.99)]
  log('')
  log(`KV write → job registered   p50 ${ms(p50)}   p99 ${ms(p99)}`)
  log(`baseline: PUT /v1/jobs      p50 ${ms(d50)}   p99 ${ms(d99)}`)
  log(`ratio controller/direct     p50 ${(p50 / d50).toFixed(2)}×   p99 ${(p99 / d99).toFixed(2)}×   (target p50 ≤ 1.5×)`)
  log(`a KV write alone            p50 ${ms(k50)}   p99 ${ms(k99)}`)
  log(`floor: KV write + PUT       p50 ${ms(k50 + d50)}   = ${((k50 + d50) / d50).toFixed(2)}× direct; the controller's share above it: ${ms(p50 - k50 - d50)} p50`)

  // 2. Many specs at once.
  const expected = new Map(specNames.map((n) => [n, hashOf(n, 0)]))
  const allRegistered = (prefix: string, names: ReadonlyMap<string, string | undefined>) =>
    waitFor(async () => {
      const { value } = await nomad('GET', `/v1/jobs?prefix=${prefix}&meta=true`)
      const jobs = (value as Array<{ ID: string; Meta?: Record<string, string> | null }>) ?? []
      return jobs.filter((j) => names.has(j.ID) && names.get(j.ID) === j.Meta?.[META_SPEC_HASH]).length === names.size
    }, { timeoutMs: 600_000, intervalMs: 1000, what: `${names.size} jobs to be registered`, onProgress: (waited) => log(`  … ${Math.round(waited / 1000)} s`) })

  const manyStarted = performance.now()
  await pool(specNames, 16, (name) => kv.set(`${root}/apps/${name}`, document(0)).then(() => undefined))
  const written = performance.now() - manyStarted
  await allRegistered(`${root}-s`, expected)
  const many = performance.now() - manyStarted

  const directStarted = performance.now()
  await pool(directNames, WORKERS, (name) => nomad('PUT', '/v1/jobs', { Job: rendered(name, 0) }).then(() => undefined))
  const manyDirect = performance.now() - directStarted
  log('')
  log(`${SPECS} specs → all registered  ${(many / 1000).toFixed(1)} s   (KV writes took ${(written / 1000).toFixed(1)} s; target ≤ 60 s for 10,000)`)
  log(`controller RSS with ${SPECS} apps cached: ${await controllerRss()}`)
  log(`baseline: ${SPECS} direct PUTs, ${WORKERS} at a time  ${(manyDirect / 1000).toFixed(1)} s`)
  log(`ratio controller/direct     ${(many / manyDirect).toFixed(2)}×`)

  // 3. Idle: let statuses settle, then count requests over the window.
  await waitFor(async () => {
    const { entries } = await kv.list(`${root}/status/`)
    // Count 0: nothing to run, so each settles at `stopped`.
    return entries.length === SPECS + 1 && entries.every((e) => (JSON.parse(e.value) as { phase: string }).phase === 'stopped')
  }, { timeoutMs: 600_000, intervalMs: 1000, what: 'every status to settle at stopped' })
  // Nomad settles each job's status after its evaluation, which wakes the job
  // watch and (harmlessly) reconciles again: wait until 5 s pass with no request.
  let lastTotal = -1
  let quietSince = Date.now()
  await waitFor(async () => {
    const total = [...(await upstreamCounts(controller.url)).values()].reduce((a, b) => a + b, 0)
    if (total !== lastTotal) [lastTotal, quietSince] = [total, Date.now()]
    return Date.now() - quietSince >= 5000
  }, { timeoutMs: 300_000, intervalMs: 500, what: 'the controller to go quiet' })
  const before = await upstreamCounts(controller.url)
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000)) // the measurement window itself
  const after = await upstreamCounts(controller.url)
  log('')
  log(`idle ${IDLE_SECONDS} s, requests made by the controller (5 blocking queries stay open: specs, jobs, allocations, checks, leader lock):`)
  let others = 0
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const delta = (after.get(key) ?? 0) - (before.get(key) ?? 0)
    if (!key.includes('blocking="true"')) others += delta
    log(`  ${key.padEnd(40)} ${delta}`)
  }
  log(`non-blocking requests while idle: ${others}   (target 0)`)
} finally {
  log('')
  log('cleaning up …')
  await kv.deleteTree(`${root}/apps/`).catch(() => {})
  await waitFor(async () => {
    const { value } = await nomad('GET', `/v1/jobs?prefix=${root}-`)
    return ((value as unknown[]) ?? []).filter((j) => !(j as { ID: string }).ID.endsWith('-direct')).length === 0
  }, { timeoutMs: 600_000, intervalMs: 1000, what: 'the controller to purge the bench jobs' }).catch((err) => log(String(err)))
  await controller.kill('SIGTERM')
  await pool([...directNames, `${root}-direct`], 8, (id) => nomad('DELETE', `/v1/job/${id}?purge=true`).then(() => undefined))
  await kv.deleteTree(`${root}/`).catch(() => {})
  await nomad('PUT', '/v1/system/gc').catch(() => {})
}
