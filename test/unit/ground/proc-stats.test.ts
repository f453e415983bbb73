import assert from 'node:assert/strict'
import { test } from 'node:test'
import { processMemory, sampleProcess } from '../../../ground/proc-stats.ts'

test("a process's memory: resident, its peak and its share, in bytes; zeros once it is gone", async () => {
  const own = await processMemory(process.pid)
  assert.ok(own.rss > 1 << 20 && own.hwm >= own.rss && own.pss > 0 && own.pss <= own.rss, JSON.stringify(own))
  const sample = await sampleProcess(process.pid)
  assert.ok(sample && sample.rssBytes > 1 << 20 && sample.maxRssBytes >= sample.rssBytes)
  assert.deepEqual(await processMemory(2 ** 22 + 1), { rss: 0, hwm: 0, pss: 0 })
})
