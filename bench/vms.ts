// bench:vms — N tiny VMs declared at once as `vm` app documents in Consul KV
// (Consul transactions of up to 64 keys, sent together) under the tests' apps
// prefix, on the tests' own cloud: the controller (its own process, as
// deployed) renders a Nomad job per app, Nomad places them, the virt driver
// boots them under QEMU (TCG on this machine). From the moment of declaring,
// per VM: placed (an allocation exists), running (the driver saw READY on its
// console), answering (HTTP 200 on its allocation's port), passing in Consul
// (its HTTP check runs every 10 s). Then each QEMU process's RSS and the host
// memory used (MemAvailable). Baseline, same run: one tiny VM declared alone
// the same way. Targets (the issue, for 50 VMs on this machine): all answering
// within 180 s, at most 220 MB RSS per VM. MB here is 10^6 bytes. Each run also
// prints the node's CPU and memory as Nomad fingerprinted them, what one VM
// reserves (from the rendered job, so the bench assumes nothing of the clock:
// 50 must fit a 2-core node of ~4,890 MHz beside the ingress), and after it,
// placed/pending and the sum of the placed VMs' reservations.
// Knobs: BENCH_VMS (50), BENCH_TIMEOUT_SECONDS (900: the whole bench but its
// cleanup, which has 300 s of its own), BENCH_DIRECT=1 (no controller: register
// renderAppJob(parseAppSpec(…)) with Nomad's API directly), BENCH_NODES (1: the
// tests' cloud; 2 to 7: a cluster of its own on this machine, in
// .lean-cloud-vms, whose controllers take the documents and whose Nomad spreads
// the VMs over the nodes; BENCH_KEEP=1 leaves it running).
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { parseAppSpec, renderAppJob } from '../jobs/app-spec.ts'
import { trustCaCertsFromEnv } from '../controller/ca-trust.ts'
import { loadConfig, type CloudConfig } from '../infra/cloud/config.ts'
import { downCluster, existingCluster, upCluster } from '../infra/cloud/cluster.ts'
import { vmReservation } from '../jobs/vm.ts'
import { useCloud } from '../test/harness/cloud.ts'
import { spawnController, type ControllerProcess } from '../test/harness/controller-process.ts'
import { nomad } from '../test/harness/nomad-http.ts'
import { runningDomains, tinyImage } from '../test/harness/vm-job.ts'
import type { Alloc, Seen } from './vm-fleet.ts'
import {
  consulApi,
  diagnose,
  memAvailable,
  observe,
  oddities,
  qemuMemory,
  quantile,
  reservedBy,
} from './vm-fleet.ts'

const N = Number(process.env.BENCH_VMS ?? 50)
const NODES = Number(process.env.BENCH_NODES ?? 1)
if (!Number.isInteger(NODES) || NODES < 1 || NODES > 7) throw new Error(`BENCH_NODES: expected 1 to 7, got ${process.env.BENCH_NODES}`)
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 900)
const DIRECT = process.env.BENCH_DIRECT === '1'
const CLEANUP_MS = 300_000
const TARGET_S = 180
const TARGET_BYTES = 220e6
if (!Number.isInteger(N) || N < 1 || N > 500) throw new Error(`BENCH_VMS: expected 1 to 500, got ${N}`)
if (!(TIMEOUT_S > 0)) throw new Error(`BENCH_TIMEOUT_SECONDS: expected a positive number, got ${TIMEOUT_S}`)

const stop = new AbortController()
const overall = `the overall timeout of ${TIMEOUT_S} s (BENCH_TIMEOUT_SECONDS) passed`
setTimeout(() => stop.abort(new Error(overall)), TIMEOUT_S * 1000).unref()
process.once('SIGINT', () => stop.abort(new Error('interrupted (SIGINT)')))

const log = (m: string) => process.stdout.write(`${m}\n`)
// Both units: the target reads "MB"; ps, top and the facts doc count MiB.
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB (${(bytes / 1048576).toFixed(0)} MiB)`
const secs = (s: number | undefined) => (s === undefined ? '-' : `${s.toFixed(1)} s`)

/** The tests' cloud, or a cluster of BENCH_NODES nodes of its own; every node's config (for its libvirtd). */
async function cloud(): Promise<{ configs: CloudConfig[]; env: Record<string, string>; down?: () => Promise<void> }> {
  if (NODES === 1) {
    const { config, env } = await useCloud()
    return { configs: [config], env }
  }
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const base = loadConfig({ ...process.env, LEAN_CLOUD_DATA_DIR: path.join(repo, '.lean-cloud-vms') })
  const { env } = await upCluster(base, NODES, (m) => log(`  [cluster] ${m}`))
  trustCaCertsFromEnv(env)
  for (const key of ['CONSUL_HTTP_TOKEN', 'NOMAD_TOKEN', 'NOMAD_NAMESPACE'] as const) if (env[key]) process.env[key] = env[key]
  const cluster = (await existingCluster(base))!
  const down = process.env.BENCH_KEEP === '1' ? undefined : () => downCluster(base, cluster, () => {})
  // The cluster's controllers watch the cloud's own apps prefix (cloud.env does not name it).
  const withPrefixes = { ...env, LEAN_APPS_PREFIX: base.controller.appsPrefix, LEAN_STATUS_PREFIX: base.controller.statusPrefix } as Record<string, string>
  return { configs: [...cluster.nodes], env: withPrefixes, ...(down && { down }) }
}

const { configs, env, down } = await cloud()
const domainsOfAllNodes = async () => (await Promise.all(configs.map((c) => runningDomains(c)))).flat()
const qemuMemoryOfAllNodes = async (apps: readonly string[]) => (await Promise.all(configs.map((c) => qemuMemory(c, apps)))).flat()
const image = await tinyImage(env)
const nomadAddr = env.NOMAD_ADDR!
const appsPrefix = env.LEAN_APPS_PREFIX!
const consul = consulApi(env)
const tag = `bvm-${Date.now().toString(36)}`
const fleet = { nomadAddr, consul, tag }
const names = Array.from({ length: N }, (_, i) => `${tag}-${String(i).padStart(3, '0')}`)
const solo = `${tag}-solo`
const document = JSON.stringify({
  kind: 'vm',
  image: { sha256: image.sha256 },
  vcpus: 1,
  memory: '128MiB',
  ports: { http: 8080 },
  service: { port: 'http', checkPath: '/' },
})

async function declare(apps: readonly string[]): Promise<void> {
  if (DIRECT) {
    const job = (n: string) => ({ Job: renderAppJob(parseAppSpec(n, document)) })
    await Promise.all(apps.map((n) => nomad(nomadAddr, 'PUT', '/v1/jobs', job(n))))
    return
  }
  const Value = Buffer.from(document).toString('base64')
  const chunks = Array.from({ length: Math.ceil(apps.length / 64) }, (_, i) =>
    apps.slice(i * 64, i * 64 + 64),
  )
  const txn = (c: readonly string[]) => c.map((n) => ({ KV: { Verb: 'set', Key: appsPrefix + n, Value } }))
  await Promise.all(chunks.map((c) => consul('PUT', '/v1/txn', txn(c))))
}

/** Observes until every app answers and Consul lists it passing (at most 30 s more for that). */
async function measure(
  apps: readonly string[],
  t0: number,
  controller: ControllerProcess | undefined,
  node: Capacity,
) {
  const seen = new Map(apps.map((n) => [n, {} as Seen]))
  let allocs: Alloc[] = []
  let nextProgress = 10
  for (;;) {
    const waited = (performance.now() - t0) / 1000
    if (controller && controller.child.exitCode !== null)
      stop.abort(new Error(`the controller exited (code ${controller.child.exitCode})`))
    if (stop.signal.aborted) {
      diagnose(apps, seen, allocs).forEach(log)
      log(`  ${placement(apps, allocs, node)}`)
      throw stop.signal.reason
    }
    allocs = await observe(fleet, apps, t0, seen).catch((err: Error) => {
      log(`  (a look failed: ${err.message})`)
      return allocs
    })
    const all = [...seen.values()]
    const count = (k: keyof Seen) => all.filter((s) => s[k] !== undefined).length
    const lastAnswer = Math.max(...all.map((s) => s.answering ?? Infinity))
    if (count('answering') === apps.length && (count('passing') === apps.length || waited - lastAnswer > 30))
      return { seen, allocs }
    if (waited >= nextProgress) {
      log(
        `  ${count('answering')}/${apps.length} answering after ${waited.toFixed(0)} s (placed ${count('placed')}, running ${count('running')}, passing in Consul ${count('passing')})`,
      )
      nextProgress += 10
    }
    await delay(500)
  }
}

/** Removes the bench's documents (or jobs) and waits, bounded, until no job and no domain of it is left. */
async function undeclareAll(timeoutMs: number): Promise<void> {
  const started = Date.now()
  // The controller purges the jobs of deleted documents; without it, or past 120 s, this process does.
  let purging = DIRECT
  if (!DIRECT) await consul('DELETE', `/v1/kv/${appsPrefix}${tag}-?recurse=true`)
  let nextProgress = 10
  let [jobs, domains]: [Array<{ ID: string }>, string[]] = [[], []]
  for (;;) {
    try {
      jobs = await nomad<Array<{ ID: string }>>(nomadAddr, 'GET', `/v1/jobs?prefix=${tag}-`)
      domains = (await domainsOfAllNodes()).filter((d) => d.includes(`-${tag}-`))
      if (jobs.length === 0 && domains.length === 0) return
    } catch (err) {
      log(`  (a look failed: ${(err as Error).message})`)
    }
    const waited = (Date.now() - started) / 1000
    // A cluster's own controllers purge too; only a bench-spawned one can be seen to have exited.
    if (!purging && (waited > 120 || (controller !== undefined && controller.child.exitCode !== null))) {
      log(`  the controller is gone or left ${jobs.length} job(s) after 120 s; purging them directly`)
      if (controller && controller.child.exitCode === null) {
        const role = await controller.role().catch((err: Error) => `unknown (${err.message})`)
        const notes = controller.lines.filter((l) => Number(l.level) >= 40).slice(-5)
        log(
          `  the controller's role: ${role}; its last warnings: ${notes.map((l) => JSON.stringify(l)).join('\n    ') || 'none'}`,
        )
      }
      purging = true
    }
    if (purging)
      await Promise.all(
        jobs.map((j) => nomad(nomadAddr, 'DELETE', `/v1/job/${j.ID}?purge=true`).catch(() => {})),
      )
    const left = `${jobs.length} job(s) and ${domains.length} domain(s)`
    if (waited * 1000 > timeoutMs)
      throw new Error(
        `cleanup: after ${waited.toFixed(0)} s still ${left} of the bench: ${domains.join(', ')}`,
      )
    if (waited >= nextProgress) {
      log(`  cleaning up: ${left} left after ${waited.toFixed(0)} s`)
      nextProgress += 10
    }
    await delay(1000)
  }
}

interface Capacity {
  /** What Nomad fingerprinted, less the node's own reserved resources. */
  readonly cpuTotal: number
  readonly memoryTotal: number
  /** What running or pending allocations leave of it. */
  readonly cpuFree: number
  readonly memoryFree: number
}

/** The nodes' CPU in MHz and memory in MiB (summed), and what running or pending allocations leave of them, as Nomad counts. */
async function nodeCapacity(): Promise<Capacity> {
  type Res = { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } }
  const nodes = await nomad<Array<{ ID: string }>>(nomadAddr, 'GET', '/v1/nodes')
  let [cpuTotal, memoryTotal, cpuUsed, memoryUsed] = [0, 0, 0, 0]
  for (const node of nodes) {
    const info = await nomad<{ NodeResources: Res; ReservedResources?: Partial<Res> }>(nomadAddr, 'GET', `/v1/node/${node.ID}`)
    // /v1/node/:id/allocations ignores `filter`; /v1/allocations applies it.
    const live = `NodeID == "${node.ID}" and DesiredStatus == "run" and (ClientStatus == "running" or ClientStatus == "pending")`
    const allocs = await nomad<Alloc[]>(
      nomadAddr,
      'GET',
      // Every namespace: the ingress (lean-system) and other jobs take their share of the node too.
      `/v1/allocations?resources=true&namespace=*&filter=${encodeURIComponent(live)}`,
    )
    const used = reservedBy(allocs)
    const reserved = info.ReservedResources
    cpuTotal += info.NodeResources.Cpu.CpuShares - (reserved?.Cpu?.CpuShares ?? 0)
    memoryTotal += info.NodeResources.Memory.MemoryMB - (reserved?.Memory?.MemoryMB ?? 0)
    cpuUsed += used.cpu
    memoryUsed += used.memoryMB
  }
  return { cpuTotal, memoryTotal, cpuFree: cpuTotal - cpuUsed, memoryFree: memoryTotal - memoryUsed }
}

/** Placed and pending VMs of a run, and what the placed ones reserve, against the node's totals. */
function placement(apps: readonly string[], allocs: readonly Alloc[], node: Capacity): string {
  const live = (a: Alloc) =>
    a.DesiredStatus === 'run' && (a.ClientStatus === 'running' || a.ClientStatus === 'pending')
  const mine = allocs.filter((a) => apps.includes(a.JobID) && live(a))
  const placed = new Set(mine.map((a) => a.JobID)).size
  const sum = reservedBy(mine)
  const perNode = new Map<string, number>()
  for (const a of mine) perNode.set(a.NodeName ?? '?', (perNode.get(a.NodeName ?? '?') ?? 0) + 1)
  const spread = NODES > 1 ? `; by node: ${[...perNode].sort().map(([n, c]) => `${n} ${c}`).join(', ')}` : ''
  return (
    `placed ${placed}/${apps.length}, pending ${apps.length - placed}; their reservations ${sum.cpu} MHz of ${node.cpuTotal}, ` +
    `${sum.memoryMB} MiB of ${node.memoryTotal}${spread}`
  )
}

function figures(seen: Map<string, Seen>, key: keyof Seen): string {
  const xs = [...seen.values()].map((s) => s[key]).filter((x): x is number => x !== undefined)
  if (xs.length === 0) return '-'
  return `p50 ${secs(quantile(xs, 0.5))}  p90 ${secs(quantile(xs, 0.9))}  max ${secs(Math.max(...xs))}`
}

let controller: ControllerProcess | undefined
let failure: unknown
try {
  const node = await nodeCapacity()
  // What each VM reserves, from the spec the controller renders: nothing here assumes the node's clock.
  const spec = parseAppSpec(solo, document)
  if (spec.kind !== 'vm') throw new Error(`the bench's document is of kind ${spec.kind}, not vm`)
  const each = vmReservation(spec.vm)
  const how = DIRECT
    ? 'rendered jobs registered with Nomad directly (BENCH_DIRECT=1, no controller)'
    : `documents under ${appsPrefix} through the controller`
  log(
    `bench:vms  ${N} tiny VMs (1 vCPU, 128 MiB, image ${image.sha256.slice(0, 12)}) declared at once: ${how}`,
  )
  log(
    `${NODES > 1 ? `${NODES} nodes on one machine` : 'node'} (Nomad's fingerprint): ${availableParallelism()} cores, ${node.cpuTotal} MHz, ${node.memoryTotal} MiB; ` +
      `free of other allocations: ${node.cpuFree} MHz, ${node.memoryFree} MiB; timeout ${TIMEOUT_S} s`,
  )
  log(
    `each VM reserves ${each.cpu} MHz and ${each.memoryMB} MiB: ${N} need ${N * each.cpu} MHz and ${N * each.memoryMB} MiB`,
  )
  const fit = Math.min(Math.floor(node.cpuFree / each.cpu), Math.floor(node.memoryFree / each.memoryMB))
  if (fit < N) log(`warning: Nomad can place only ${fit} of the ${N} VMs until other allocations end`)

  // A cluster runs a controller on every node already; the tests' cloud gets one for the bench.
  if (!DIRECT && NODES === 1) {
    controller = await spawnController(env, `${tag}-controller`)
    await controller.waitForRole('leader', 90_000).catch(() => {
      throw new Error(`the controller was not leader within 90 s: another one holds ${env.LEAN_LEADER_KEY}`)
    })
  }

  log('')
  log('baseline: 1 VM declared alone')
  const soloT0 = performance.now()
  await declare([solo])
  const soloRun = await measure([solo], soloT0, controller, node)
  const one = soloRun.seen.get(solo)!
  const [oneMem] = await qemuMemoryOfAllNodes([solo])
  log(`  ${placement([solo], soloRun.allocs, node)}`)
  log(
    `  placed ${secs(one.placed)}, running ${secs(one.running)} (boot ${secs(one.bootS)}), answering ${secs(one.answering)}, passing in Consul ${secs(one.passing)}; QEMU RSS ${oneMem ? mb(oneMem.rss) : '-'}, PSS ${oneMem ? mb(oneMem.pss) : '-'}`,
  )
  oddities(soloRun.allocs).forEach(log)
  await undeclareAll(CLEANUP_MS) // the baseline's VM is gone before the others are declared

  log('')
  log(`${N} VMs declared at once`)
  const availableBefore = await memAvailable()
  const t0 = performance.now()
  await declare(names)
  log(`  declared in ${((performance.now() - t0) / 1000).toFixed(2)} s`)
  const run = await measure(names, t0, controller, node)
  log(`  ${placement(names, run.allocs, node)}`)
  const mem = await qemuMemoryOfAllNodes(names)
  if (mem.length === 0) throw new Error(`no QEMU process found for the domains of ${tag}-*`)
  const used = availableBefore - (await memAvailable())

  const allS = Math.max(...[...run.seen.values()].map((s) => s.answering!))
  const rss = mem.map((m) => m.rss)
  const [medianRss, maxRss] = [quantile(rss, 0.5), Math.max(...rss)]
  log(`all ${N} answering after ${secs(allS)}`)
  log('')
  log(`per VM, from declaring:  placed              ${figures(run.seen, 'placed')}`)
  log(`                         running (READY)     ${figures(run.seen, 'running')}`)
  log(`                         answering HTTP 200  ${figures(run.seen, 'answering')}`)
  log(`                         passing in Consul   ${figures(run.seen, 'passing')}`)
  log(`boot as the driver saw it (create → READY): ${figures(run.seen, 'bootS')}`)
  const pss = quantile(
    mem.map((m) => m.pss),
    0.5,
  )
  log(
    `RSS per VM (QEMU VmRSS, ${mem.length} processes for ${N} VMs): median ${mb(medianRss)}, max ${mb(maxRss)}; peak (VmHWM) max ${mb(Math.max(...mem.map((m) => m.hwm)))}; PSS median ${mb(pss)}`,
  )
  log(
    `host memory: MemAvailable fell by ${mb(used)} from before declaring to all answering = ${mb(used / N)} per VM`,
  )
  oddities(run.allocs).forEach(log)
  log('')
  const oneS = one.answering!
  log(
    `ratio all ${N} / one alone    ${(allS / oneS).toFixed(2)}x time until answering (${secs(allS)} vs ${secs(oneS)})`,
  )
  log(
    `ratio RSS / 220 MB target   median ${(medianRss / TARGET_BYTES).toFixed(2)}x, max ${(maxRss / TARGET_BYTES).toFixed(2)}x (one alone: ${oneMem ? mb(oneMem.rss) : '-'})`,
  )
  const note = N === 50 ? '' : ` (the target is stated for 50 VMs; this run had ${N})`
  log(`${allS <= TARGET_S ? 'PASS' : 'MISS'}  all ${N} answering within ${TARGET_S} s: ${secs(allS)}${note}`)
  const counted = mem.length === N ? '' : ` (found ${mem.length} QEMU processes for ${N} VMs)`
  const rssOk = maxRss <= TARGET_BYTES && mem.length === N
  log(`${rssOk ? 'PASS' : 'MISS'}  RSS of each VM at most 220 MB: max ${mb(maxRss)}${counted}`)
} catch (err) {
  failure = err
  log(`bench:vms FAILED: ${(err as Error).message}`)
} finally {
  log('')
  log('cleaning up …')
  try {
    await undeclareAll(CLEANUP_MS)
    log('  no job and no domain of the bench left')
  } catch (err) {
    failure ??= err
    log(`  ${(err as Error).message}`)
  }
  await consul('DELETE', `/v1/kv/${env.LEAN_STATUS_PREFIX}${tag}-?recurse=true`).catch(() => {})
  await controller?.kill('SIGTERM')
  await down?.()
}
if (failure) process.exitCode = 1
