import assert from 'node:assert/strict'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, allocations, stopJob, taskEventText, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

test('a trapped or oversized instance is replaced, the task keeps running, and Nomad shows why', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('events')
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, await helloComponent(), { instances: 2, config: { instance_memory: '64MiB' } }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const base = allocAddress(alloc!)

  assert.equal((await fetch(`${base}/trap`)).status, 500)
  // The request that pushes linear memory past the limit still completes; then the instance goes.
  assert.equal((await fetch(`${base}/grow?mb=96`)).status, 200)

  const events = await waitFor(
    async () => {
      const text = taskEventText((await allocations(addr, id))[0]!)
      return /the component trapped/.test(text) && /out of memory: linear memory \d+ MiB exceeds instance_memory 64 MiB/.test(text) ? text : false
    },
    { timeoutMs: 60_000, what: 'instance replacement events on the allocation' },
  )
  assert.match(events, /Instance replaced/)
  assert.equal((await allocations(addr, id))[0]!.ClientStatus, 'running')
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${base}/`)).status, 200)
})
