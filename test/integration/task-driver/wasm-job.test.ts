import assert from 'node:assert/strict'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { consul } from '../../harness/consul-http.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { allocAddress, taskProcessPids, stopJob, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

test('a two-allocation wasm job runs, answers on its Nomad ports, logs, and stops cleanly', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const hello = await helloComponent()
  const id = uniqueName('hello')
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, hello, { count: 2, env: { GREETING: 'hej' } }))
  t.after(() => stopJob(addr, id).catch(() => {}))

  const allocs = await waitForAllocs(addr, id, 2, 'running')
  for (const alloc of allocs) {
    const res = await fetch(`${allocAddress(alloc)}/`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'hej from wasm\n')
    // One warm instance serves many requests: its counter keeps growing.
    const first = Number(await (await fetch(`${allocAddress(alloc)}/count`)).text())
    const second = Number(await (await fetch(`${allocAddress(alloc)}/count`)).text())
    assert.ok(second > first || second >= 1, `counter ${first} → ${second}`)
  }

  // The component's own stdout reaches Nomad's log pipeline.
  const logs = await waitFor(
    async () => {
      const res = await fetch(`${addr}/v1/client/fs/logs/${allocs[0]!.ID}?task=app&type=stdout&plain=true&origin=start`, { headers: nomadHeaders() })
      const text = await res.text()
      return text.includes('hello component serving its first request') ? text : false
    },
    { timeoutMs: 60_000, what: 'the component output in nomad alloc logs' },
  )
  assert.match(logs, /serving its first request/)

  // Consul sees the service registered by Nomad, with passing checks.
  const healthy = await waitFor(
    async () => {
      const entries = await consul<unknown[]>(env.CONSUL_HTTP_ADDR!, 'GET', `/v1/health/service/${id}?passing=true`)
      return entries.length === 2 ? entries : false
    },
    { timeoutMs: 90_000, what: `two passing ${id} instances in Consul` },
  )
  assert.equal(healthy.length, 2)

  const pids = (await Promise.all(allocs.map((a) => taskProcessPids(a.ID)))).flat()
  assert.equal(pids.length, 2, 'one task process per allocation')
  await stopJob(addr, id)
  await waitFor(async () => (await Promise.all(allocs.map((a) => taskProcessPids(a.ID)))).flat().length === 0, {
    timeoutMs: 90_000,
    what: 'the task processes to exit after job stop',
  })
})
