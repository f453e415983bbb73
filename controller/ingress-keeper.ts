// Keeps the cloud's ingress (jobs/ingress.ts, a Nomad system job) in place
// while this controller leads. A blocking query on Nomad's jobs under the
// ingress job's ID wakes it when the job is stopped, purged or edited out of
// band; it registers the job again (check-and-set) when it is absent, stopped
// or rendered from other settings. A job of that name without the ingress
// owner mark is someone else's and is left alone, and so is one a newer
// controller rendered (its META_INGRESS_VERSION is higher). It never stops the
// ingress: when the controller goes, the ingress keeps serving. Controllers of
// other apps prefixes on the same cloud render the same job (the cloud's
// settings), so they agree instead of taking turns.
import type { Logger } from 'pino'
import {
  INGRESS_JOB,
  INGRESS_OWNER,
  INGRESS_VERSION,
  META_INGRESS_HASH,
  META_INGRESS_OWNER,
  META_INGRESS_VERSION,
  renderIngressJob,
  type IngressSettings,
} from '../jobs/ingress.ts'
import type { NomadApi, NomadJobStub } from './nomad-api.ts'
import { pause } from './pause.ts'

const WAIT = '5m'

/** What the keeper uses of Nomad. */
export type IngressNomad = Pick<NomadApi, 'jobs' | 'register'>

export type IngressState = 'registered' | 'current' | 'newer' | 'foreign'

/**
 * One look at the ingress job as `jobs` (a listing under its ID) shows it:
 * registers it when it is absent, stopped or stale.
 */
export async function ensureIngress(
  nomad: IngressNomad,
  settings: IngressSettings,
  jobs: readonly NomadJobStub[],
  log: Logger,
): Promise<IngressState> {
  const desired = renderIngressJob(settings)
  const job = jobs.find((j) => j.ID === INGRESS_JOB)
  if (job && job.Meta?.[META_INGRESS_OWNER] !== INGRESS_OWNER) return 'foreign'
  if (job && !job.Stop && job.Meta?.[META_INGRESS_HASH] === desired.Meta[META_INGRESS_HASH]) return 'current'
  if (job && !job.Stop && Number(job.Meta?.[META_INGRESS_VERSION] ?? 0) > INGRESS_VERSION) return 'newer'
  await nomad.register(desired, job ? (job.JobModifyIndex ?? 0) : 0)
  const reason = !job ? 'absent' : job.Stop ? 'stopped out of band' : 'rendered from other settings'
  log.info(
    { job: INGRESS_JOB, port: settings.port, consulDns: settings.consulDns, reason },
    'ingress job registered',
  )
  return 'registered'
}

/** Runs until `signal` aborts; errors are logged and retried with backoff. */
export async function keepIngress(
  nomad: IngressNomad,
  settings: IngressSettings,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  let index = 0
  let failures = 0
  let last: IngressState | undefined
  while (!signal.aborted) {
    try {
      const { jobs, index: next } = await nomad.jobs(index, WAIT, signal, INGRESS_JOB)
      const state = await ensureIngress(nomad, settings, jobs, log)
      if (state === 'foreign' && last !== state)
        log.warn(
          { job: INGRESS_JOB },
          'a Nomad job named like the ingress exists that is not the ingress; it is left alone, and there is no ingress',
        )
      if (state === 'newer' && last !== state)
        log.info(
          { job: INGRESS_JOB, version: INGRESS_VERSION },
          'the ingress was rendered by a newer controller; it is left as it is',
        )
      last = state
      index = next < index ? 0 : next
      failures = 0
    } catch (err) {
      if (signal.aborted) return
      failures++
      index = 0 // list afresh: a lost check-and-set race shows the other writer's job
      const delay = Math.min(100 * 2 ** failures, 10_000)
      log.warn(
        { source: 'ingress', err: (err as Error).message, retryInMs: delay },
        'keeping the ingress failed; retrying',
      )
      await pause(delay, signal)
    }
  }
}
