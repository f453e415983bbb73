// Which of an app's allocations are healthy. An allocation of a group with
// Consul services is healthy when it runs and each of those services has an
// instance of it registered in Consul whose checks all pass; an allocation of
// a group without services (a vm without `service`) is healthy when it runs.
// A check that does not pass is reported failing once it has output (or
// notes: maintenance), or once the allocation has run for its group's grace
// (two check intervals and a timeout): Consul's catalog leaves the output of a
// check that never changed status empty for up to 5 minutes.
// Nomad names each instance it registers
// `_nomad-task-<alloc ID>-<task, or group-<group>>-<service>-<port label>`,
// which maps the instance back to its allocation.
import type { AllocationListStub } from '../generated/nomad/types.ts'
import type { NomadJob } from '../jobs/nomad-job.ts'

export interface CheckState {
  readonly name: string
  /** Consul's status: passing, warning, critical (maintenance shows as a critical check). */
  readonly status: string
  /** The last output Consul's catalog has: empty until the check first changes status (or up to 5 min later). */
  readonly output: string
  /** What the check is about; for maintenance, the reason given. */
  readonly notes: string
}

/** One registered instance of a service, with every check Consul applies to it (its node's too). */
export interface ServiceInstance {
  readonly id: string
  readonly checks: readonly CheckState[]
}

/** The function boundary the count reads through: Nomad's allocations of a job, Consul's instances of a service. */
export interface HealthSources {
  allocations(job: string): Promise<readonly AllocationListStub[]>
  instances(service: string): Promise<readonly ServiceInstance[]>
}

export interface AllocationHealth {
  /** Allocations Nomad reports running. */
  readonly running: number
  /** Allocations failed or lost. */
  readonly failed: number
  /** Running allocations whose services all pass their checks. */
  readonly healthy: number
  /** One line per running allocation with a check that fails (has output, or ran past the grace), or not registered past the grace. */
  readonly failing: readonly string[]
}

/** A group's Consul services, and how long its allocations' checks may take to pass before they count as failing. */
export interface GroupServices {
  readonly names: readonly string[]
  readonly graceMs: number
}

const UUID = /^_nomad-task-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/

/** The allocation a Nomad-registered service instance belongs to; undefined for any other service ID. */
export function allocIdOf(serviceId: string): string | undefined {
  return UUID.exec(serviceId)?.[1]
}

const NS_PER_MS = 1e6
/** Consul's own defaults for a check without interval or timeout. */
const DEFAULT_INTERVAL_MS = 10_000
const DEFAULT_TIMEOUT_MS = 10_000

/** The Consul services of each task group (the group's services and its tasks'), with the group's grace. */
export function consulServices(job: NomadJob): ReadonlyMap<string, GroupServices> {
  const groups = new Map<string, GroupServices>()
  for (const group of job.TaskGroups ?? []) {
    const services = [...(group.Services ?? []), ...(group.Tasks ?? []).flatMap((t) => t.Services ?? [])].filter((s) => (s.Provider ?? 'consul') === 'consul' && s.Name)
    // The first run comes within one interval (Consul staggers it), a second one confirms.
    const graces = services.flatMap((s) => s.Checks ?? []).map((c) => 2 * (c.Interval ? c.Interval / NS_PER_MS : DEFAULT_INTERVAL_MS) + (c.Timeout ? c.Timeout / NS_PER_MS : DEFAULT_TIMEOUT_MS))
    groups.set(group.Name ?? '', { names: [...new Set(services.map((s) => s.Name!))], graceMs: Math.max(0, ...graces) })
  }
  return groups
}

/** When the allocation's tasks last (re)started; undefined when none has. */
function startedAt(alloc: AllocationListStub): number | undefined {
  const times = Object.values(alloc.TaskStates ?? {}).map((t) => (t.StartedAt ? Date.parse(t.StartedAt) : NaN)).filter((t) => !Number.isNaN(t))
  return times.length > 0 ? Math.max(...times) : undefined
}

const MAX_OUTPUT = 160

function describe(alloc: string, service: string, check: CheckState): string {
  const output = (check.output.trim() || check.notes.trim() || '(no output in Consul yet)').replace(/\s+/g, ' ')
  const shown = output.length > MAX_OUTPUT ? `${output.slice(0, MAX_OUTPUT)}…` : output
  return `allocation ${alloc.slice(0, 8)}: ${service}: check "${check.name}" ${check.status}: ${shown}`
}

/**
 * Counts the job's allocations by health. `services` are the Consul services
 * per group (consulServices of the job as rendered now): an allocation of an
 * older version registered under another name does not count as healthy.
 */
export async function allocationHealth(sources: HealthSources, job: string, services: ReadonlyMap<string, GroupServices>, now = Date.now()): Promise<AllocationHealth> {
  const allocs = await sources.allocations(job)
  const running = allocs.filter((a) => a.ClientStatus === 'running' && a.ID)
  const failed = allocs.filter((a) => a.ClientStatus === 'failed' || a.ClientStatus === 'lost').length
  const wanted = new Set(running.flatMap((a) => services.get(a.TaskGroup ?? '')?.names ?? []))
  const instances = new Map<string, readonly ServiceInstance[]>()
  await Promise.all([...wanted].map(async (name) => instances.set(name, await sources.instances(name))))

  let healthy = 0
  const failing: string[] = []
  for (const alloc of running) {
    const group = services.get(alloc.TaskGroup ?? '')
    const started = startedAt(alloc)
    const pastGrace = started !== undefined && now - started > (group?.graceMs ?? 0)
    let ok = true
    let reported = false
    for (const service of group?.names ?? []) {
      const own = (instances.get(service) ?? []).filter((i) => allocIdOf(i.id) === alloc.ID)
      if (own.length === 0) {
        ok = false // not registered (yet, or any more)
        if (!reported && pastGrace) {
          failing.push(`allocation ${alloc.ID!.slice(0, 8)}: ${service}: not registered in Consul`)
          reported = true
        }
      }
      for (const check of own.flatMap((i) => i.checks)) {
        if (check.status === 'passing') continue
        ok = false
        if (!reported && (pastGrace || check.output.trim() !== '' || check.notes.trim() !== '')) {
          failing.push(describe(alloc.ID!, service, check))
          reported = true
        }
      }
    }
    if (ok) healthy++
  }
  return { running: running.length, failed, healthy, failing }
}
