// What wakes the queue: Consul blocking queries on the apps prefix and on
// the checks of Nomad's service instances (an app turning unhealthy or
// healthy again), and Nomad blocking queries on the job list (drift: a
// managed job stopped, edited or purged out of band) and on allocations. All resume from the last index, reset when
// it goes backwards (an agent restarted with fresh state), back off on
// errors, and never stop on their own: only the abort signal ends them.
import type { Logger } from 'pino'
import { ownedBy } from '../jobs/app-spec.ts'
import type { ConsulHealth } from './consul-health.ts'
import { type ConsulKv } from './consul-kv.ts'
import { appNameOf } from '../ground/kv-layout.ts'
import type { ListedApp, NameClaims } from './name-claims.ts'
import type { NomadApi } from './nomad-api.ts'
import { pause } from './pause.ts'
import { allocIdOf } from './service-health.ts'
import type { WorldCache } from './world-cache.ts'

const WAIT = '5m'
/**
 * The least time between two listings of the jobs. Every registration moves
 * the jobs' index, and each answer is the whole list: with thousands of jobs
 * being registered, asking again at once keeps Nomad busy serving lists. The
 * controller's own writes reach its cache at once (write-through), so this
 * delays only what others do to its jobs (drift), by at most this long.
 */
const JOB_LIST_INTERVAL_MS = 1000

async function loop(
  name: string,
  signal: AbortSignal,
  log: Logger,
  step: () => Promise<void | 'finished'>,
): Promise<void> {
  let failures = 0
  while (!signal.aborted) {
    try {
      if ((await step()) === 'finished') return
      failures = 0
    } catch (err) {
      if (signal.aborted) return
      failures++
      const delay = Math.min(100 * 2 ** failures, 10_000)
      log.warn({ source: name, err: (err as Error).message, retryInMs: delay }, 'watch failed; retrying')
      await pause(delay, signal)
    }
  }
}

/** Enqueues each name whose index differs from the last listing (new or changed) and each that vanished from it. */
function enqueueChanges<V>(
  known: ReadonlyMap<string, V>,
  seen: ReadonlyMap<string, V>,
  enqueue: (name: string) => void,
): void {
  for (const [name, index] of seen) if (known.get(name) !== index) enqueue(name)
  for (const name of known.keys()) if (!seen.has(name)) enqueue(name)
}

/** Enqueues every app whose spec key appeared, changed or disappeared. */
export function watchSpecs(
  kv: ConsulKv,
  prefix: string,
  enqueue: (name: string) => void,
  signal: AbortSignal,
  log: Logger,
  onListed: () => void = () => {},
  claims?: NameClaims,
  cache?: WorldCache,
): Promise<void> {
  let index = 0
  let known = new Map<string, number>()
  return loop('consul-kv', signal, log, async () => {
    const { entries, index: next } = await kv.list(
      prefix,
      index === 0 ? { signal } : { index, wait: WAIT, signal },
    )
    const seen = new Map<string, number>()
    const listed: ListedApp[] = []
    const specs = new Map<string, (typeof entries)[number]>()
    for (const e of entries) {
      const name = appNameOf(prefix, e.key)
      if (!name) continue
      seen.set(name, e.modifyIndex)
      specs.set(name, e)
      listed.push({ name, createIndex: e.createIndex, modifyIndex: e.modifyIndex, value: e.value })
    }
    // The cache first: what is enqueued reads it.
    cache?.setSpecs(specs)
    enqueueChanges(known, seen, enqueue)
    // An app whose name's owner came or went is reconciled again, though its own document did not change.
    for (const name of claims?.update(listed) ?? []) enqueue(name)
    known = seen
    index = next < index ? 0 : next
    onListed()
  })
}

/**
 * Enqueues every managed job that changed, and (once) every managed job there
 * is, so orphans get cleaned up. Keeps `managed` (the managed job IDs) current
 * for the allocation watch.
 */
export function watchJobs(
  nomad: NomadApi,
  appsPrefix: string,
  enqueue: (name: string) => void,
  signal: AbortSignal,
  log: Logger,
  onListed: () => void = () => {},
  managed = new Set<string>(),
  cache?: WorldCache,
): Promise<void> {
  let index = 0
  let known = new Map<string, number>()
  return loop('nomad-jobs', signal, log, async () => {
    const { jobs, index: next } = await nomad.jobs(index, WAIT, signal)
    const seen = new Map<string, number>()
    for (const job of jobs) {
      if (job.ID && ownedBy(job.Meta, appsPrefix)) seen.set(job.ID, job.ModifyIndex ?? 0)
    }
    // Every job of the name, owned or not: a reconcile must see a job it does not own to leave it alone.
    cache?.setJobs(jobs, next)
    enqueueChanges(known, seen, enqueue)
    known = seen
    managed.clear()
    for (const id of seen.keys()) managed.add(id)
    index = next < index ? 0 : next
    onListed()
    await pause(JOB_LIST_INTERVAL_MS, signal)
  })
}

/**
 * Enqueues the managed job of every allocation that changed (started, turned
 * healthy, failed, was replaced), so a running app's status keeps its
 * healthy count true without polling. Keeps `jobOfAlloc` (allocation ID →
 * managed job) current for the health watch.
 */
export function watchAllocations(
  nomad: NomadApi,
  managed: ReadonlySet<string>,
  enqueue: (name: string) => void,
  signal: AbortSignal,
  log: Logger,
  jobOfAlloc = new Map<string, string>(),
  cache?: WorldCache,
): Promise<void> {
  let index = 0
  let known = new Map<string, number>()
  let jobOf = new Map<string, string>()
  return loop('nomad-allocations', signal, log, async () => {
    const { allocations, index: next } = await nomad.allAllocations(index, WAIT, signal)
    const seen = new Map<string, number>()
    const jobs = new Map<string, string>()
    for (const a of allocations) {
      if (!a.ID || !a.JobID || !managed.has(a.JobID)) continue
      seen.set(a.ID, a.ModifyIndex ?? 0)
      jobs.set(a.ID, a.JobID)
    }
    // Every allocation in the namespace: a job's may come before the job watch names the job managed.
    cache?.setAllocations(allocations)
    if (index !== 0) enqueueChanges(known, seen, (alloc) => enqueue(jobs.get(alloc) ?? jobOf.get(alloc)!))
    known = seen
    jobOf = jobs
    jobOfAlloc.clear()
    for (const [alloc, job] of jobs) jobOfAlloc.set(alloc, job)
    index = next < index ? 0 : next
  })
}

/**
 * Enqueues the managed job of every service instance whose check changed
 * status, appeared or went: an app whose checks start failing (or pass
 * again) is reconciled as soon as Consul knows. Only the status counts, so
 * a check's new output alone wakes nothing.
 */
export function watchServiceHealth(
  health: Pick<ConsulHealth, 'nomadChecks'>,
  jobOfAlloc: ReadonlyMap<string, string>,
  enqueue: (name: string) => void,
  signal: AbortSignal,
  log: Logger,
  cache?: WorldCache,
): Promise<void> {
  let index = 0
  let known = new Map<string, string>()
  let allocOf = new Map<string, string>()
  return loop('consul-health', signal, log, async () => {
    const { checks, index: next } = await health.nomadChecks(
      index === 0 ? { signal } : { index, wait: WAIT, signal },
    )
    cache?.setChecks(checks)
    const seen = new Map<string, string>()
    const allocs = new Map<string, string>()
    for (const c of checks) {
      const alloc = allocIdOf(c.serviceId)
      if (!alloc) continue
      seen.set(c.key, c.status)
      allocs.set(c.key, alloc)
    }
    if (index !== 0)
      enqueueChanges(known, seen, (key) => {
        const job = jobOfAlloc.get(allocs.get(key) ?? allocOf.get(key) ?? '')
        if (job) enqueue(job)
      })
    known = seen
    allocOf = allocs
    index = next < index ? 0 : next
  })
}

/**
 * Enqueues, once, every app that has a status: a status left behind by a
 * controller killed mid-reconcile (its spec and job already gone) is then
 * cleaned up too.
 */
export function sweepStatuses(
  kv: ConsulKv,
  prefix: string,
  enqueue: (name: string) => void,
  signal: AbortSignal,
  log: Logger,
  onListed: (statuses: ReadonlyMap<string, string>) => void = () => {},
): Promise<void> {
  return loop('consul-status', signal, log, async () => {
    const { entries } = await kv.list(prefix, { signal })
    const statuses = new Map<string, string>()
    for (const e of entries) {
      const name = appNameOf(prefix, e.key)
      if (name) statuses.set(name, e.value)
    }
    // What the status writer knows first: the enqueued reconciles write against it.
    onListed(statuses)
    for (const name of statuses.keys()) enqueue(name)
    return 'finished'
  })
}
