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
  // The engine refuses to grow linear memory past the limit: the request fails, the instance goes.
  assert.equal((await fetch(`${base}/grow?mb=96`)).status, 500)

  const events = await waitFor(
    async () => {
      const text = taskEventText((await allocations(addr, id))[0]!)
      return /a request to GET \/trap trapped/.test(text) && /a request to GET \/grow went over the instance memory limit/.test(text) ? text : false
    },
    { timeoutMs: 60_000, what: 'instance replacement events on the allocation' },
  )
  assert.match(events, /Instance replaced/)
  assert.equal((await allocations(addr, id))[0]!.ClientStatus, 'running')
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${base}/`)).status, 200)
})

test('an instance whose memory grew past its image by more than the recycling bound starts afresh; one that grew less keeps its state', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('grown')
  // One instance: every request reaches the same slot, so /count shows whether it was replaced.
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, await helloComponent(), { instances: 1 }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const base = allocAddress(alloc!)
  const count = async () => Number(await (await fetch(`${base}/count`)).text())

  const before = await count()
  assert.equal(await count(), before + 1, 'the same instance serves again')
  // 1 MiB kept: within the 4 MiB bound, the instance stays.
  assert.equal((await fetch(`${base}/grow?mb=1`)).status, 200)
  assert.equal(await count(), before + 3)
  // 8 MiB kept: past the bound, the instance is swapped for a fresh one after that request.
  assert.equal((await fetch(`${base}/grow?mb=8`)).status, 200)
  const fresh = await waitFor(async () => {
    const res = await fetch(`${base}/count`).catch(() => undefined)
    return res?.status === 200 ? Number(await res.text()) : false
  }, { timeoutMs: 30_000, what: 'the fresh instance to answer' })
  assert.equal(fresh, 1, 'a fresh instance counts from 1')
})
