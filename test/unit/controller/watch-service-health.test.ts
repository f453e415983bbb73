// The health watch: each answer of the blocking query on Nomad's instance
// checks enqueues the job of every instance whose check changed status,
// appeared or went; a new output alone wakes nothing. Consul is stubbed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { InstanceCheck } from '../../../controller/consul-health.ts'
import type { QueryOptions } from '../../../controller/consul-kv.ts'
import { watchServiceHealth } from '../../../controller/watch-sources.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'

const A1 = '11111111-1111-1111-1111-111111111111'
const A2 = '22222222-2222-2222-2222-222222222222'
const A3 = '33333333-3333-3333-3333-333333333333'

const check = (alloc: string, status: string, output = ''): InstanceCheck => ({
  key: `node/_nomad-check-${alloc}`,
  node: 'node',
  serviceId: `_nomad-task-${alloc}-group-web-web-http`,
  serviceName: 'web',
  name: 'web http',
  status,
  output,
  notes: '',
})

test('the health watch enqueues the jobs whose instances changed status, and only those', async () => {
  const answers: InstanceCheck[][] = [
    [check(A1, 'passing'), check(A2, 'passing')], // the first listing: nothing enqueued
    [check(A1, 'critical'), check(A2, 'passing', 'new output')], // A1 turned critical; A2's output alone changed
    [check(A1, 'critical'), check(A2, 'passing'), check(A3, 'critical')], // A3 appeared
    [check(A1, 'passing')], // A1 passes again; A2 and A3 went
  ]
  const asked: Array<number | undefined> = []
  /** What each answer made the watch enqueue. */
  const enqueued: string[][] = []
  const abort = new AbortController()
  const stub = {
    async nomadChecks(options: QueryOptions = {}) {
      asked.push(options.index)
      const checks = answers[asked.length - 1]
      if (!checks) await new Promise((resolve) => abort.signal.addEventListener('abort', resolve, { once: true }))
      enqueued.push([])
      return { checks: checks ?? [], index: 10 + asked.length }
    },
  }
  const jobOfAlloc = new Map([
    [A1, 'one'],
    [A2, 'two'],
    [A3, 'three'],
  ])
  const running = watchServiceHealth(stub, jobOfAlloc, (job) => enqueued.at(-1)!.push(job), abort.signal, pino({ level: 'silent' }))
  await waitFor(async () => asked.length === 5, { timeoutMs: 2000, intervalMs: 5, what: 'four answers' })
  abort.abort()
  await running
  assert.deepEqual(asked, [undefined, 11, 12, 13, 14], 'the first query lists, the next ones block on the last index')
  assert.deepEqual(enqueued.slice(0, 4).map((jobs) => jobs.sort()), [[], ['one'], ['three'], ['one', 'three', 'two']])
})
