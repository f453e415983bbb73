// reconcile(name): level-triggered and idempotent. Reads the desired spec,
// the Nomad job, its allocations and their checks from the cache the watches
// keep (world-cache.ts), renders once, registers only when the spec hash in
// the job's meta differs (or the job was stopped or purged out of band), with
// Nomad's check-and-set, and writes the status. Never touches a job it does
// not own. `healthy` counts the allocations whose Consul checks all pass
// (service-health.ts).
import type { Logger } from 'pino'
import { SpecError, META_APPS_PREFIX, META_SPEC_HASH, ownedBy, parseAppSpec, renderAppJob } from '../jobs/app-spec.ts'
import { DEFAULT_APP_LIMITS, type AppLimits } from '../jobs/app-limits.ts'
import { phaseOf, type StatusWriter } from './app-status.ts'
import type { KvEntry } from './consul-kv.ts'
import { claimsOf, type NameClaims } from './name-claims.ts'
import type { NomadApi, NomadJobStub } from './nomad-api.ts'
import { allocationHealth, consulServices, type HealthSources } from './service-health.ts'
import type { WorldCache } from './world-cache.ts'
import { done, type Result } from './work-queue.ts'

/** How often a deploying app's status is refreshed. */
const DEPLOY_POLL_MS = 1000
/** How often an unhealthy app's is: the health watch wakes it on every check change, this is the safety net. */
const UNHEALTHY_POLL_MS = 5000
/** How soon a reconcile that came before the first listing of every source is tried again. */
const SYNC_WAIT_MS = 200

/** A reconcile that failed on a Consul or Nomad error; retried with backoff. Carries the app and the spec's KV index for the log. */
export class ReconcileError extends Error {
  readonly code = 'LEAN_ERR_RECONCILE' as const
  constructor(
    readonly app: string,
    readonly kvIndex: number | null,
    cause: unknown,
  ) {
    super(`reconcile ${app}: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'ReconcileError'
  }
}

export class Reconciler {
  /** Each job's Version by the JobModifyIndex it was read at: the list stub has no Version, so it is read once per change. */
  readonly #versions = new Map<string, { index: number; version: number | null }>()

  constructor(
    private readonly world: WorldCache,
    private readonly nomad: Pick<NomadApi, 'job' | 'register' | 'deregister'>,
    private readonly status: StatusWriter,
    private readonly appsPrefix: string,
    private readonly log: Logger,
    /** Who owns each service name and ingress host; without it, names are not checked. */
    private readonly claims?: NameClaims,
    /** The ceilings of the controller's configuration. */
    private readonly limits: AppLimits = DEFAULT_APP_LIMITS,
  ) {}

  async reconcile(name: string): Promise<Result> {
    // Until every watch has listed once, an absent spec or job may only be unseen.
    if (!this.world.synced) return { retryAfterMs: SYNC_WAIT_MS }
    const entry = this.world.spec(name)
    try {
      return await this.#reconcile(name, entry)
    } catch (err) {
      throw new ReconcileError(name, entry?.modifyIndex ?? null, err)
    }
  }

  /** The job's Version, read from Nomad only when its JobModifyIndex moved since the last read. */
  async #version(job: NomadJobStub | undefined): Promise<number | null> {
    if (!job?.ID) return null
    const index = job.JobModifyIndex ?? 0
    const known = this.#versions.get(job.ID)
    if (known?.index === index) return known.version
    const version = (await this.nomad.job(job.ID))?.Version ?? null
    this.#versions.set(job.ID, { index, version })
    return version
  }

  async #reconcile(name: string, entry: KvEntry | undefined): Promise<Result> {
    const job = this.world.job(name)
    const owned = ownedBy(job?.Meta, this.appsPrefix)
    const log = this.log.child({ app: name, kvIndex: entry?.modifyIndex ?? null })

    if (!entry) {
      // Status first: if this process dies in between, the owned job is still
      // listed by the job watch and purged by the next reconcile.
      await this.status.remove(name)
      if (job && owned) {
        this.world.purged(name, await this.nomad.deregister(name))
        this.#versions.delete(name)
        log.info('spec deleted: job stopped and purged')
      } else if (job) {
        log.info('spec deleted: the job of that name is not ours and is left alone')
      }
      return done
    }

    const base = { name, observedIndex: entry.modifyIndex }
    // Read at most once per job change, and never on the way to a registration.
    const version = () => this.#version(job)
    let desired
    let spec
    try {
      spec = parseAppSpec(name, entry.value, this.limits)
      const rendered = renderAppJob(spec)
      desired = { ...rendered, Meta: { ...rendered.Meta, [META_APPS_PREFIX]: this.appsPrefix } }
    } catch (err) {
      if (!(err instanceof SpecError)) throw err
      // The job already running (if any) keeps running.
      await this.status.write({ ...base, jobVersion: await version(), phase: 'invalid', healthy: 0, desired: 0, lastError: err.message })
      log.warn({ field: err.field, reason: err.reason }, 'spec invalid; not applied')
      return done
    }
    if (this.claims) {
      // Until the specs watch has listed every document, who came first is unknown.
      if (!this.claims.ready) return { retryAfterMs: SYNC_WAIT_MS }
      const conflict = this.claims.conflict(name, entry.createIndex, claimsOf(spec))
      if (conflict) {
        const { claim, owner } = conflict
        const lastError = `${claim.field}: the ${claim.kind} "${claim.name}" belongs to app ${owner}, which declared it first`
        await this.status.write({ ...base, jobVersion: await version(), phase: 'invalid', healthy: 0, desired: 0, lastError })
        // A job of ours that registers another app's name comes down (it could only be from before the owner's check).
        if (job && owned && !job.Stop) {
          this.world.purged(name, await this.nomad.deregister(name))
        }
        log.warn({ field: claim.field, owner }, 'name taken by another app; not applied')
        return done
      }
    }
    const count = desired.TaskGroups.reduce((n, g) => n + g.Count, 0)

    if (job && !owned) {
      await this.status.write({
        ...base,
        jobVersion: await version(),
        phase: 'failed',
        healthy: 0,
        desired: count,
        lastError: `a Nomad job named ${name} exists that this controller does not own; it is left alone`,
      })
      log.warn('a job of the same name exists and is not ours')
      return done
    }

    if (!job || job.Stop || job.Meta?.[META_SPEC_HASH] !== desired.Meta[META_SPEC_HASH]) {
      const answer = await this.nomad.register(desired, job ? (job.JobModifyIndex ?? 0) : 0)
      // Write-through: a reconcile before the job watch's next answer sees this registration, not the old job.
      const written = answer.JobModifyIndex ?? 0
      this.world.registered({ ...job, ID: name, Stop: false, Meta: desired.Meta, JobModifyIndex: written }, written)
      log.info(
        { reason: !job ? 'absent' : job.Stop ? 'stopped out of band' : 'spec changed', count },
        'job registered',
      )
      // The version just registered is read by the next reconcile (DEPLOY_POLL_MS).
      await this.status.write({ ...base, jobVersion: this.#versions.get(name)?.version ?? null, phase: 'deploying', healthy: 0, desired: count, lastError: null })
      return { retryAfterMs: DEPLOY_POLL_MS }
    }

    const sources: HealthSources = {
      allocations: async (job) => this.world.allocations(job),
      instances: async (service) => this.world.instances(service),
    }
    const health = await allocationHealth(sources, name, consulServices(desired))
    const { phase, lastError } = phaseOf(count, health)
    await this.status.write({ ...base, jobVersion: await version(), phase, healthy: health.healthy, desired: count, lastError })
    if (phase === 'running' || phase === 'stopped') return done
    return { retryAfterMs: phase === 'unhealthy' ? UNHEALTHY_POLL_MS : DEPLOY_POLL_MS }
  }
}
