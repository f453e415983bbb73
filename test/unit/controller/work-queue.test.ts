// The keyed work queue: bursts coalesce, a key never runs twice at once, a
// failing key backs off without holding up the others.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { done, WorkQueue, type Result } from '../../../controller/work-queue.ts'

const log = pino({ level: 'silent' })

test('a burst of adds for one key runs it once, plus once more for adds made while it ran', async () => {
  const runs: string[] = []
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const queue = new WorkQueue(async (key) => {
    runs.push(key)
    if (runs.length === 1) await gate
    return done
  }, { workers: 2 }, log)
  for (let i = 0; i < 5; i++) queue.add('a')
  await waitFor(async () => runs.length === 1, { timeoutMs: 2000, intervalMs: 5, what: 'the first run' })
  for (let i = 0; i < 5; i++) queue.add('a') // while it runs: marked dirty, not run in parallel
  assert.equal(runs.length, 1)
  release()
  await waitFor(async () => runs.length === 2, { timeoutMs: 2000, intervalMs: 5, what: 'the second run' })
  queue.stop()
  assert.deepEqual(runs, ['a', 'a'])
})

test('a failing key backs off on its own while other keys keep running', async () => {
  const attempts = new Map<string, number[]>()
  const queue = new WorkQueue(async (key): Promise<Result> => {
    attempts.set(key, [...(attempts.get(key) ?? []), Date.now()])
    if (key === 'bad') throw new Error('Nomad is down')
    return done
  }, { workers: 1, baseBackoffMs: 20, maxBackoffMs: 80 }, log)
  queue.add('bad')
  await waitFor(async () => (attempts.get('bad')?.length ?? 0) >= 4, { timeoutMs: 5000, intervalMs: 5, what: 'four attempts' })
  for (const key of ['x', 'y', 'z']) queue.add(key)
  await waitFor(async () => ['x', 'y', 'z'].every((k) => attempts.get(k)?.length === 1), { timeoutMs: 2000, intervalMs: 5, what: 'the good keys to run' })
  queue.stop()
  const times = attempts.get('bad')!
  const gaps = times.slice(1).map((t, i) => t - times[i]!)
  assert.ok(gaps[0]! >= 15, `first retry waited ${gaps[0]} ms`)
  assert.ok(gaps[2]! >= gaps[0]!, `backoff grows: ${gaps.join(', ')}`)
})

test('"retry after" runs the key again later', async () => {
  let runs = 0
  const queue = new WorkQueue(async () => (++runs < 3 ? { retryAfterMs: 10 } : done), { workers: 1 }, log)
  queue.add('deploying')
  await waitFor(async () => runs === 3, { timeoutMs: 2000, intervalMs: 5, what: 'three runs' })
  queue.stop()
})
