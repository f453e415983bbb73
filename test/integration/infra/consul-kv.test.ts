import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConsul } from '../../../controller/consul-client.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

test('a blocking KV query wakes up when the key changes', async (t) => {
  const { env } = await useCloud()
  const consul = createConsul(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const key = `test/${uniqueName('kv')}`
  t.after(() => consul.kv.del(key))

  assert.equal(await consul.kv.set(key, 'first'), true)
  const before = await consul.kv.get(key)
  assert.equal(before?.Value, 'first')

  // Block on the current index; the query must return only once the key changes.
  const blocked = consul.kv.get({ key, index: before!.ModifyIndex, wait: '30s', timeout: 40_000 } as never)
  let woke = false
  void blocked.then(() => (woke = true))
  // Consul answers a blocking query only on change or after `wait`: a quick
  // round trip of another request proves it is still parked.
  await consul.status.leader()
  assert.equal(woke, false, 'the blocking query returned before anything changed')

  const writtenAt = Date.now()
  await consul.kv.set(key, 'second')
  const after = (await blocked) as { Value: string; ModifyIndex: number }
  assert.equal(after.Value, 'second')
  assert.ok(after.ModifyIndex > before!.ModifyIndex)
  assert.ok(Date.now() - writtenAt < 10_000, 'woke on the change, not on the wait timeout')
})
