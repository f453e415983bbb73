// The four failures of a cluster that bench:chaos measures (and the cluster's
// integration test runs the first and third of): each injects one fault into a
// running cluster, watches the survivors until the cloud has healed, and
// returns what it saw. Nothing here decides pass or fail: the bench prints
// each figure beside its bound, the test asserts what must hold on a loaded
// machine.
import { readFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { ConsulKv } from '../../controller/consul-kv.ts'
import { applyDocument } from '../../cli/commands/apply.ts'
import { PDF_BUCKET } from '../../ground/buckets.ts'
import { s3FromEnv } from '../components/publish.ts'
import { readObjectBytes } from '../../ground/s3-client.ts'
import type { CloudConfig } from './config.ts'
import type { Credentials } from './credentials.ts'
import type { Cluster } from './cluster.ts'
import {
  appStatus,
  controllerRoles,
  dnsAddresses,
  jobIds,
  killLeadingController,
  killNode,
  kvKeys,
  leaders,
  nodeName,
  processesInNode,
  runningAllocations,
  schedulingTrace,
  serversHealthy,
  setReachable,
} from './cluster-chaos.ts'
import { ingressClient, type IngressAnswer, type IngressClient } from './ingress-client.ts'

export interface ChaosContext {
  readonly cluster: Cluster
  readonly credentials: Credentials
  /** cloud.env of the cluster (its S3 and database addresses are the gateway's). */
  readonly env: Readonly<Record<string, string>>
  /** Declared instances per app. */
  readonly apps: Readonly<Record<string, number>>
  readonly progress: (m: string) => void
  /** How long to watch one healing before giving up. */
  readonly timeoutMs: number
}

export const seconds = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`)

const liveNodes = (ctx: ChaosContext, except: readonly string[]) => ctx.cluster.nodes.filter((n) => !except.includes(nodeName(n)))

const sum = (counts: Record<string, number> | undefined) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0)

/** Whether every app is `running` with all its declared instances healthy, placed only on the given nodes. */
async function allRunning(ctx: ChaosContext, on: readonly CloudConfig[]): Promise<boolean> {
  const allowed = new Set(on.map(nodeName))
  for (const [app, count] of Object.entries(ctx.apps)) {
    const status = await appStatus(ctx.cluster, ctx, app, on)
    if (status?.phase !== 'running' || status.healthy !== count) return false
    const allocs = await runningAllocations(ctx.cluster, ctx, app, on)
    if (!allocs || Object.keys(allocs).some((n) => !allowed.has(n)) || sum(allocs) !== count) return false
  }
  return true
}

/** Polls `check` every 250 ms; resolves to the ms since `start` it took, or undefined when the timeout passed first. */
async function timeUntil(start: number, timeoutMs: number, check: () => Promise<boolean>): Promise<number | undefined> {
  while (performance.now() - start < timeoutMs) {
    if (await check().catch(() => false)) return performance.now() - start
    await delay(250)
  }
  return undefined
}

/**
 * Waits until every app runs all its instances on the given nodes (and, when
 * they are all the nodes, every server is a healthy voter again: the cluster
 * can lose another one); returns how long it took.
 */
export async function waitAppsRunning(ctx: ChaosContext, on: readonly CloudConfig[] = ctx.cluster.nodes): Promise<number> {
  const whole = on.length === ctx.cluster.nodes.length
  const took = await timeUntil(performance.now(), ctx.timeoutMs, async () => (await allRunning(ctx, on)) && (!whole || (await serversHealthy(ctx.cluster, ctx))))
  if (took === undefined) {
    const statuses = await Promise.all(Object.keys(ctx.apps).map((a) => appStatus(ctx.cluster, ctx, a, on)))
    const brief = statuses.map((s) => s && { name: s.name, phase: s.phase, healthy: s.healthy, desired: s.desired, lastError: s.lastError })
    throw new Error(`the apps were not all running${whole ? ' (with every server a healthy voter)' : ''} within ${seconds(ctx.timeoutMs)}: ${JSON.stringify(brief)}`)
  }
  return took
}

/**
 * Requests through one node's ingress, `concurrency` at a time, until
 * stopped: `send` makes one (worker w's i-th), `keep` reads what a 200
 * answered; any other status or error is a failure, quoted.
 */
function ingressLoad<T>(
  ingressNode: CloudConfig,
  concurrency: number,
  send: (client: IngressClient, worker: number, i: number) => Promise<IngressAnswer>,
  keep: (body: string) => T,
) {
  const client = ingressClient(ingressNode.ingress.port, ingressNode.host)
  const ok: T[] = []
  const failed: string[] = []
  let running = true
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; running; i++) {
      try {
        const answer = await send(client, w, i)
        if (answer.status === 200) ok.push(keep(answer.body))
        else failed.push(`${answer.status} ${answer.body.slice(0, 200)}`)
      } catch (err) {
        failed.push((err as Error).message)
      }
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(workers)
      client.close()
      return { ok, failed }
    },
  }
}

/** GETs of an app's `path` through one node's ingress. */
export const getLoad = (ingressNode: CloudConfig, app: string, path = '/', concurrency = 2) =>
  ingressLoad(ingressNode, concurrency, (client) => client.request(app, { path, timeoutMs: 30_000 }), () => null)

/** PDF requests through one node's ingress; each 200 keeps its request_id. */
export const pdfLoad = (ingressNode: CloudConfig, concurrency = 2) =>
  ingressLoad(
    ingressNode,
    concurrency,
    (client, w, i) => client.request('pdf', { json: { text: `chaos ${w}-${i}` }, timeoutMs: 60_000 }),
    (body) => JSON.parse(body) as { request_id: string },
  )

/** The PDF read back whole, not only its metadata: that needs a copy of the data on a live volume server. */
async function readsBackAsPdf(s3: ReturnType<typeof s3FromEnv>, key: string): Promise<boolean> {
  const bytes = await readObjectBytes(s3, PDF_BUCKET, key).catch(() => undefined)
  return bytes?.subarray(0, 5).toString('latin1') === '%PDF-'
}

/** Of the PDFs answered 200, how many have no request_logs row, and how many no stored object that reads back. */
export async function lostPdfs(ctx: ChaosContext, made: ReadonlyArray<{ request_id: string }>): Promise<{ rows: number; objects: number }> {
  if (made.length === 0) return { rows: 0, objects: 0 }
  const db = new pg.Client({ connectionString: ctx.env.DATABASE_URL })
  await db.connect()
  try {
    const ids = made.map((m) => m.request_id)
    const found = await db.query<{ request_id: string; pdf_object_key: string | null }>(
      'SELECT request_id, pdf_object_key FROM request_logs WHERE request_id = ANY($1)',
      [ids],
    )
    const s3 = s3FromEnv(ctx.env)
    let objects = 0
    for (const row of found.rows) {
      if (row.pdf_object_key === null || !(await readsBackAsPdf(s3, row.pdf_object_key))) objects++
    }
    return { rows: ids.length - found.rows.length, objects }
  } finally {
    await db.end()
  }
}

export interface NodeLossResult {
  readonly victim: string
  readonly processesKilled: number
  /** From the kill until Nomad ran every allocation on the others. */
  readonly replacedMs: number | undefined
  /** Until the survivors' Consul DNS gave none of the victim's addresses. */
  readonly dnsDroppedMs: number | undefined
  /** Until every app was `running` again, all instances healthy, on the survivors. */
  readonly runningMs: number | undefined
  readonly requests: number
  readonly failed: readonly string[]
  /** PDFs answered 200 whose row or object is missing (PDF load only). */
  readonly lost: { rows: number; objects: number } | undefined
  /** Nomad's evaluations and deployments since the kill, when replacing took longer than SLOW_HEALING_MS. */
  readonly trace?: readonly string[]
}

/** A healing slower than this keeps the scheduler's trace (bench:chaos's bound for failure 1). */
export const SLOW_HEALING_MS = 30_000

/**
 * 1. Every process of one node killed, while requests go through another
 * node's ingress: PDFs (each then checked for its row and object), or GETs of
 * `app` when one is named.
 */
export async function nodeLoss(ctx: ChaosContext, victim: CloudConfig, ingressNode: CloudConfig, app?: string): Promise<NodeLossResult> {
  const survivors = liveNodes(ctx, [nodeName(victim)])
  const load: { stop(): Promise<{ ok: unknown[]; failed: string[] }> } = app ? getLoad(ingressNode, app) : pdfLoad(ingressNode)
  await delay(2000)
  const start = performance.now()
  const killedAt = Date.now()
  const processesKilled = await killNode(victim)
  ctx.progress(`killed ${processesKilled} processes of ${nodeName(victim)}`)
  const watch = (check: () => Promise<boolean>) => timeUntil(start, ctx.timeoutMs, check)
  const [replacedMs, dnsDroppedMs, runningMs] = await Promise.all([
    watch(async () => {
      for (const [app, count] of Object.entries(ctx.apps)) {
        const allocs = await runningAllocations(ctx.cluster, ctx, app, survivors)
        if (!allocs || allocs[nodeName(victim)] || sum(allocs) !== count) return false
      }
      return true
    }),
    watch(async () => {
      for (const app of Object.keys(ctx.apps)) if ((await dnsAddresses(ingressNode, app)).includes(victim.host)) return false
      return true
    }),
    watch(() => allRunning(ctx, survivors)),
  ])
  await delay(2000)
  const { ok, failed } = await load.stop()
  const slow = replacedMs === undefined || replacedMs > SLOW_HEALING_MS
  const trace = slow ? (await Promise.all(Object.keys(ctx.apps).map((a) => schedulingTrace(ctx.cluster, ctx, a, killedAt, survivors)))).flat() : undefined
  return {
    ...(trace && { trace }),
    victim: nodeName(victim),
    processesKilled,
    replacedMs,
    dnsDroppedMs,
    runningMs,
    requests: ok.length + failed.length,
    failed,
    lost: app ? undefined : await lostPdfs(ctx, ok as Array<{ request_id: string }>),
  }
}

export interface LeaderLossResult {
  readonly victim: string
  /** Which leaders were on the killed node. */
  readonly heldNomad: boolean
  readonly heldConsul: boolean
  readonly nomadLeaderMs: number | undefined
  readonly consulLeaderMs: number | undefined
  readonly jobsLost: readonly string[]
  readonly keysLost: readonly string[]
}

/**
 * 2. The node holding `which` leader (Nomad's by default) killed, and with it
 * the other's when it is there too.
 */
export async function leaderLoss(ctx: ChaosContext, which: 'nomad' | 'consul' = 'nomad'): Promise<LeaderLossResult> {
  const before = await leaders(ctx.cluster, ctx)
  const victim = ctx.cluster.nodes.find((n) => nodeName(n) === before[which])
  if (!victim) throw new Error(`no ${which} leader to kill (${JSON.stringify(before)})`)
  const survivors = liveNodes(ctx, [nodeName(victim)])
  const appsPrefix = victim.controller.appsPrefix
  const jobsBefore = (await jobIds(ctx.cluster, ctx)) ?? []
  const keysBefore = (await kvKeys(ctx.cluster, ctx, appsPrefix)) ?? []
  const start = performance.now()
  await killNode(victim)
  const held = [before.nomad === nodeName(victim) && "Nomad's", before.consul === nodeName(victim) && "Consul's"].filter(Boolean)
  ctx.progress(`killed ${nodeName(victim)}, holding ${held.join(' and ')} leader`)
  const newLeader = (kind: 'nomad' | 'consul') => async () => {
    const now = await leaders(ctx.cluster, ctx, survivors)
    return now[kind] !== undefined && now[kind] !== nodeName(victim)
  }
  const [nomadLeaderMs, consulLeaderMs] = await Promise.all([
    timeUntil(start, ctx.timeoutMs, newLeader('nomad')),
    timeUntil(start, ctx.timeoutMs, newLeader('consul')),
  ])
  // Read again once the survivors answer (a read needs a leader); what never reads back counts as lost.
  let jobsRead: string[] | undefined
  let keysRead: string[] | undefined
  await timeUntil(performance.now(), ctx.timeoutMs, async () => {
    jobsRead ??= await jobIds(ctx.cluster, ctx, survivors)
    keysRead ??= await kvKeys(ctx.cluster, ctx, appsPrefix, survivors)
    return jobsRead !== undefined && keysRead !== undefined
  })
  const jobsAfter = new Set(jobsRead ?? [])
  const keysAfter = new Set(keysRead ?? [])
  return {
    victim: nodeName(victim),
    heldNomad: before.nomad === nodeName(victim),
    heldConsul: before.consul === nodeName(victim),
    nomadLeaderMs,
    consulLeaderMs,
    jobsLost: jobsBefore.filter((j) => !jobsAfter.has(j)),
    keysLost: keysBefore.filter((k) => !keysAfter.has(k)),
  }
}

export interface ControllerLossResult {
  readonly victim: string
  readonly newLeader: string | undefined
  readonly newLeaderMs: number | undefined
  /** From the kill until a change written right after it ran (the new leader converged). */
  readonly convergedMs: number | undefined
}

/**
 * 3. The leading controller killed; right after, `app`'s document changes to
 * `changed` instances, which the new leader must carry out.
 */
export async function controllerLoss(ctx: ChaosContext, app: string, document: object, changed: number): Promise<ControllerLossResult> {
  const start = performance.now()
  const victim = await killLeadingController(ctx.cluster)
  ctx.progress(`killed the leading controller, on ${victim}`)
  const writer = ctx.cluster.nodes.find((n) => nodeName(n) !== victim)!
  const kv = new ConsulKv(`https://${writer.host}:${writer.consul.httpPort}`, ctx.credentials.consulManagementToken)
  await applyDocument(kv, writer.controller.appsPrefix, app, JSON.stringify({ ...document, count: changed }))
  let newLeader: string | undefined
  const newLeaderMs = await timeUntil(start, ctx.timeoutMs, async () => {
    const roles = await controllerRoles(ctx.cluster)
    newLeader = Object.keys(roles).find((n) => n !== victim && roles[n] === 'leader')
    return newLeader !== undefined
  })
  const convergedMs = await timeUntil(start, ctx.timeoutMs, async () => {
    const status = await appStatus(ctx.cluster, ctx, app)
    const allocs = await runningAllocations(ctx.cluster, ctx, app)
    return status?.phase === 'running' && status.desired === changed && status.healthy === changed && sum(allocs) === changed
  })
  return { victim, newLeader, newLeaderMs, convergedMs }
}

export interface PartitionResult {
  readonly victim: string
  readonly cutMs: number
  /** The most running allocations each app had after the link came back, and what it declares. */
  readonly peakAfterHeal: Record<string, { peak: number; declared: number }>
  /** From the link coming back until every app ran exactly its declared instances, `running`. */
  readonly convergedMs: number | undefined
  /** Wasm host processes left on the healed node beyond its running allocations, at the end. */
  readonly orphans: number
  /** From the link coming back until the healed node ran no wasm host beyond its allocations. */
  readonly orphansGoneMs: number | undefined
}

/** 4. One node cut off the bridge for `cutMs`, then joined again. */
export async function partition(ctx: ChaosContext, victim: CloudConfig, cutMs: number): Promise<PartitionResult> {
  await setReachable(ctx.cluster, victim, false)
  ctx.progress(`cut ${nodeName(victim)} off for ${seconds(cutMs)}`)
  await delay(cutMs)
  await setReachable(ctx.cluster, victim, true)
  const start = performance.now()
  const peaks: Record<string, { peak: number; declared: number }> = Object.fromEntries(
    Object.entries(ctx.apps).map(([a, n]) => [a, { peak: 0, declared: n }]),
  )
  const convergedMs = await timeUntil(start, ctx.timeoutMs, async () => {
    let exact = true
    for (const [app, count] of Object.entries(ctx.apps)) {
      const total = sum(await runningAllocations(ctx.cluster, ctx, app))
      peaks[app]!.peak = Math.max(peaks[app]!.peak, total)
      const status = await appStatus(ctx.cluster, ctx, app)
      exact &&= total === count && status?.phase === 'running' && status.healthy === count
    }
    return exact
  })
  // The healed client stops what the servers replaced (each after its shutdown delay): count its
  // wasm hosts beyond its running allocations until none is left, or the timeout.
  let orphans = 0
  const orphansGoneMs = await timeUntil(start, ctx.timeoutMs, async () => {
    const allocs = await Promise.all(Object.keys(ctx.apps).map((a) => runningAllocations(ctx.cluster, ctx, a)))
    const onVictim = allocs.reduce((total, a) => total + (a?.[nodeName(victim)] ?? 0), 0)
    orphans = Math.max(0, (await wasmHosts(victim)) - onVictim)
    return orphans === 0
  })
  return { victim: nodeName(victim), cutMs, peakAfterHeal: peaks, convergedMs, orphans, orphansGoneMs }
}

/** Wasm host processes (one per running wasm task) in the node's namespace. */
async function wasmHosts(node: CloudConfig): Promise<number> {
  let count = 0
  for (const pid of await processesInNode(node)) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    // The host binary is cached as wasm-host-<digest of its sources>.
    if (/\/wasm-host(-[0-9a-f]+)?$/.test(cmd.split('\0')[0] ?? '')) count++
  }
  return count
}
