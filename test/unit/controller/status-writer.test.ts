// The status writer against a stub of the KV boundary: it writes only what
// changed, keeps the transition time while the phase holds, and once primed
// with the sweep's listing reads nothing before a first write.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { StatusWriter, type AppStatus } from '../../../controller/app-status.ts'
import type { KvEntry } from '../../../controller/consul-kv.ts'

function stubKv(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial))
  const calls: string[] = []
  return {
    data,
    calls,
    kv: {
      async get(key: string): Promise<KvEntry | undefined> {
        calls.push(`get ${key}`)
        const value = data.get(key)
        return value === undefined ? undefined : { key, value, modifyIndex: 1, createIndex: 1 }
      },
      async set(key: string, value: string) {
        calls.push(`set ${key}`)
        data.set(key, value)
        return true
      },
      async delete(key: string) {
        calls.push(`delete ${key}`)
        data.delete(key)
      },
    },
  }
}

const status = (name: string, phase: AppStatus['phase']) => ({ name, observedIndex: 7, phase, healthy: 0, desired: 0, jobVersion: null, lastError: null })

test('unprimed: the first write of an app reads its status; an unchanged status is not written again', async () => {
  const { kv, calls } = stubKv()
  const writer = new StatusWriter(kv, 's/')
  const first = await writer.write(status('a', 'deploying'))
  await writer.write(status('a', 'deploying'))
  assert.deepEqual(calls, ['get s/a', 'set s/a'])
  const later = await writer.write({ ...status('a', 'deploying'), healthy: 1 })
  assert.equal(later.lastTransitionTime, first.lastTransitionTime, 'the phase held, so did its transition time')
})

test('primed with the sweep: no reads; a listed status keeps its transition time, a bad one is replaced', async () => {
  const kept = { ...status('a', 'running'), lastTransitionTime: '2026-01-01T00:00:00.000Z' }
  const { kv, calls, data } = stubKv({ 's/a': JSON.stringify(kept), 's/b': '{not json' })
  const writer = new StatusWriter(kv, 's/')
  writer.prime(new Map([['a', data.get('s/a')!], ['b', data.get('s/b')!]]))
  assert.deepEqual(await writer.write(status('a', 'running')), kept)
  await writer.write(status('b', 'stopped'))
  await writer.write(status('c', 'stopped'))
  assert.deepEqual(calls, ['set s/b', 'set s/c'])
})

test('priming does not undo what was written before the listing arrived', async () => {
  const { kv, calls } = stubKv()
  const writer = new StatusWriter(kv, 's/')
  const written = await writer.write(status('a', 'deploying'))
  writer.prime(new Map([['a', JSON.stringify({ ...status('a', 'pending'), lastTransitionTime: 'old' })]]))
  assert.deepEqual(await writer.write(status('a', 'deploying')), written)
  assert.deepEqual(calls, ['get s/a', 'set s/a'])
})
