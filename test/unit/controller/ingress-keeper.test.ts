// The ingress keeper against a scripted Nomad job list (the integration test
// runs it against the real one): it registers the ingress when it is absent,
// stopped or rendered from other settings, with check-and-set, and leaves a
// job of the same name that is not the ingress alone.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { keepIngress, type IngressNomad } from '../../../controller/ingress-keeper.ts'
import type { NomadJobStub } from '../../../controller/nomad-api.ts'
import {
  INGRESS_JOB,
  INGRESS_VERSION,
  META_INGRESS_HASH,
  META_INGRESS_VERSION,
  renderIngressJob,
} from '../../../jobs/ingress.ts'
import type { NomadJob } from '../../../jobs/nomad-job.ts'

const settings = { port: 8088, consulDns: '127.0.0.1:8600' }
const ours = renderIngressJob(settings)

/** Answers each blocking query with the next listing; after the last, the keeper is stopped. */
function scripted(listings: NomadJobStub[][], abort: AbortController) {
  const registered: Array<{ job: NomadJob; index: number }> = []
  const prefixes: Array<string | undefined> = []
  const nomad: IngressNomad = {
    async jobs(index, _wait, _signal, prefix) {
      prefixes.push(prefix)
      const next = listings.shift()
      if (next) return { jobs: next, index: index + 1 }
      abort.abort()
      throw new Error('aborted')
    },
    async register(job, index) {
      registered.push({ job, index })
    },
  }
  return { nomad, registered, prefixes }
}

test('registers the ingress when absent, stopped or stale, and leaves it alone when current', async () => {
  const abort = new AbortController()
  const hash = ours.Meta[META_INGRESS_HASH]
  const stub = (meta: Record<string, string>, extra: Partial<NomadJobStub> = {}): NomadJobStub => ({
    ID: INGRESS_JOB,
    Meta: meta,
    JobModifyIndex: 7,
    ...extra,
  })
  const { nomad, registered, prefixes } = scripted(
    [
      [{ ID: `${INGRESS_JOB}-other` }],
      [stub(ours.Meta)],
      [stub(ours.Meta, { Stop: true, JobModifyIndex: 9 })],
      [stub({ ...ours.Meta, [META_INGRESS_HASH]: 'old' }, { JobModifyIndex: 11 })],
    ],
    abort,
  )
  await keepIngress(nomad, settings, abort.signal, pino({ level: 'silent' }))
  assert.deepEqual(
    registered.map((r) => r.index),
    [0, 9, 11],
    'absent (must not exist yet), stopped, stale: check-and-set on the index seen',
  )
  for (const r of registered) assert.equal(r.job.Meta?.[META_INGRESS_HASH], hash)
  assert.ok(
    prefixes.every((p) => p === INGRESS_JOB),
    'only jobs under the ingress ID wake it',
  )
})

test('a job of the same name that is not the ingress is left alone', async () => {
  const abort = new AbortController()
  const { nomad, registered } = scripted(
    [
      [{ ID: INGRESS_JOB, Meta: { 'lean-cloud.owner': 'lean-cloud-controller' } }],
      [{ ID: INGRESS_JOB, Meta: null }],
    ],
    abort,
  )
  const lines: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) })
  await keepIngress(nomad, settings, abort.signal, log)
  assert.deepEqual(registered, [])
  assert.equal(lines.length, 1, 'said once')
  assert.match(lines[0]!, /not the ingress; it is left alone/)
})

test('an ingress a newer controller rendered is left as it is, unless it was stopped', async () => {
  const abort = new AbortController()
  const newer = {
    ...ours.Meta,
    [META_INGRESS_HASH]: 'newer',
    [META_INGRESS_VERSION]: String(INGRESS_VERSION + 1),
  }
  const older = {
    ...ours.Meta,
    [META_INGRESS_HASH]: 'older',
    [META_INGRESS_VERSION]: String(INGRESS_VERSION - 1),
  }
  const { nomad, registered } = scripted(
    [
      [{ ID: INGRESS_JOB, Meta: newer, JobModifyIndex: 3 }],
      [{ ID: INGRESS_JOB, Meta: newer, JobModifyIndex: 4, Stop: true }],
      [{ ID: INGRESS_JOB, Meta: older, JobModifyIndex: 5 }],
    ],
    abort,
  )
  await keepIngress(nomad, settings, abort.signal, pino({ level: 'silent' }))
  assert.deepEqual(
    registered.map((r) => r.index),
    [4, 5],
  )
})
