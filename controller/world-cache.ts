// What the controller knows of the world, kept by the blocking queries it
// already holds (watch-sources.ts), the way controller-runtime's informers
// keep theirs: the apps' documents, the managed jobs, their allocations and
// the checks of their service instances. A reconcile reads this and goes to
// Consul or Nomad only to write; what it writes it also puts here at once
// (write-through), so a reconcile that runs before the watch has seen its own
// write does not act on the old state.
import type { AllocationListStub } from '../generated/nomad/types.ts'
import type { InstanceCheck } from './consul-health.ts'
import type { KvEntry } from './consul-kv.ts'
import type { NomadJobStub } from './nomad-api.ts'
import type { ServiceInstance } from './service-health.ts'

/** The sources a reconcile needs listed once before it may trust an absence. */
type Source = 'specs' | 'jobs' | 'allocations' | 'checks'
const SOURCES: readonly Source[] = ['specs', 'jobs', 'allocations', 'checks']

export class WorldCache {
  #specs = new Map<string, KvEntry>()
  #jobs = new Map<string, NomadJobStub>()
  #allocations = new Map<string, AllocationListStub[]>()
  #instances = new Map<string, ServiceInstance[]>()
  readonly #listed = new Set<Source>()
  /**
   * This controller's own job writes, by Nomad's index of the write, until a
   * listing at least that new includes them: a listing answered before the
   * write must not bring the old job back into the cache.
   */
  readonly #written = new Map<string, { index: number; job: NomadJobStub | undefined }>()

  /** True once every source has listed everything: before that, "absent" may only mean "not seen yet". */
  get synced(): boolean {
    return SOURCES.every((s) => this.#listed.has(s))
  }

  spec(name: string): KvEntry | undefined {
    return this.#specs.get(name)
  }

  job(name: string): NomadJobStub | undefined {
    return this.#jobs.get(name)
  }

  allocations(job: string): readonly AllocationListStub[] {
    return this.#allocations.get(job) ?? []
  }

  /** Every registered instance of `service` with its checks and its node's, as Consul's health endpoint answers. */
  instances(service: string): readonly ServiceInstance[] {
    return this.#instances.get(service) ?? []
  }

  /** A whole listing of the apps prefix, by app name. */
  setSpecs(specs: ReadonlyMap<string, KvEntry>): void {
    this.#specs = new Map(specs)
    this.#listed.add('specs')
  }

  /** A whole listing of the jobs, as of Nomad's `index`. */
  setJobs(jobs: readonly NomadJobStub[], index = Number.MAX_SAFE_INTEGER): void {
    const listed = new Map(jobs.filter((j) => j.ID).map((j) => [j.ID!, j]))
    for (const [name, written] of this.#written) {
      if (index >= written.index) {
        this.#written.delete(name)
      } else if (written.job) {
        listed.set(name, written.job)
      } else {
        listed.delete(name)
      }
    }
    this.#jobs = listed
    this.#listed.add('jobs')
  }

  /** A whole listing of the managed jobs' allocations. */
  setAllocations(allocations: readonly AllocationListStub[]): void {
    const byJob = new Map<string, AllocationListStub[]>()
    for (const a of allocations) if (a.JobID) byJob.set(a.JobID, [...(byJob.get(a.JobID) ?? []), a])
    this.#allocations = byJob
    this.#listed.add('allocations')
  }

  /** A whole listing of the checks of Nomad's service instances and of their nodes. */
  setChecks(checks: readonly InstanceCheck[]): void {
    const nodeChecks = new Map<string, InstanceCheck[]>()
    const byInstance = new Map<string, { service: string; node: string; checks: InstanceCheck[] }>()
    for (const c of checks) {
      if (!c.serviceId) {
        nodeChecks.set(c.node, [...(nodeChecks.get(c.node) ?? []), c])
        continue
      }
      const instance = byInstance.get(c.serviceId) ?? { service: c.serviceName, node: c.node, checks: [] }
      instance.checks.push(c)
      byInstance.set(c.serviceId, instance)
    }
    const instances = new Map<string, ServiceInstance[]>()
    for (const [id, { service, node, checks: own }] of byInstance) {
      const all = [...own, ...(nodeChecks.get(node) ?? [])].map(({ name, status, output, notes }) => ({ name, status, output, notes }))
      instances.set(service, [...(instances.get(service) ?? []), { id, checks: all }])
    }
    this.#instances = instances
    this.#listed.add('checks')
  }

  /** Write-through: the job as this controller just registered it, at Nomad's `index` (the register's JobModifyIndex). */
  registered(job: NomadJobStub, index: number): void {
    if (!job.ID) return
    this.#jobs.set(job.ID, job)
    this.#written.set(job.ID, { index, job })
  }

  /** Write-through: the job this controller just purged, at Nomad's `index`. */
  purged(name: string, index: number): void {
    this.#jobs.delete(name)
    this.#written.set(name, { index, job: undefined })
  }
}
