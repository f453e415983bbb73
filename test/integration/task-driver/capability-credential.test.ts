// The capability API knows the calling task by a secret the driver makes for
// that task alone: a call without it (or with another) is refused, and the
// secret is nowhere Nomad shows a job: not in the job, the allocation, its
// events or its logs.
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { layout } from '../../../infra/cloud/config.ts'
import { useCloud } from '../../harness/cloud.ts'
import { capabilityProbeComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { stopJob, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

interface HostSpec {
  readonly env: Record<string, string>
}

test("a capability call needs the task's own credential, which Nomad never shows", async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const probe = await capabilityProbeComponent()
  const jobs = [uniqueName('cred-a'), uniqueName('cred-b')]
  for (const id of jobs) {
    await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, probe, { instances: 1, config: { grants: { buckets: ['cloud-pdfs'] } } }))
    t.after(() => stopJob(addr, id).catch(() => {}))
  }
  const allocs = await Promise.all(jobs.map(async (id) => (await waitForAllocs(addr, id, 1, 'running'))[0]!))
  // Where the driver keeps the task's state: the engine's spec, owner-only.
  const hostSpecs = await Promise.all(
    allocs.map(async (alloc) => {
      const file = path.join(layout(config).nomadData, 'alloc', alloc.ID, 'app', '.wasm-runner', 'wasm-host.json')
      assert.equal((await stat(file)).mode & 0o777, 0o600, `${file} is owner-only`)
      return JSON.parse(await readFile(file, 'utf8')) as HostSpec
    }),
  )
  const [a, b] = hostSpecs.map((spec) => ({ url: spec.env.LEAN_CAPABILITIES_URL!, token: spec.env.LEAN_CAPABILITY_TOKEN! }))
  assert.ok(a!.token && b!.token && a!.token !== b!.token, 'each task has a secret of its own')

  const call = (url: string, token?: string) =>
    fetch(`${url}/blob/cloud-pdfs/${uniqueName('absent')}.txt`, { ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }) })
  for (const [what, token] of [
    ['no credential', undefined],
    ['a wrong one', 'not-the-token'],
    ["another task's", b!.token],
  ] as const) {
    const res = await call(a!.url, token)
    assert.equal(res.status, 401, what)
    assert.match(await res.text(), /missing or wrong capability token/)
  }
  assert.equal((await call(a!.url, a!.token)).status, 404, "with its own credential the call goes through (the object is absent)")

  // Nothing Nomad shows of the job holds the secret: `nomad job inspect`, the allocation with its events, the logs.
  const job = jobs[0]!
  const shown = [
    JSON.stringify(await nomad(addr, 'GET', `/v1/job/${job}`)),
    JSON.stringify(await nomad(addr, 'GET', `/v1/allocation/${allocs[0]!.ID}`)),
    ...(await Promise.all(
      ['stdout', 'stderr'].map(async (type) => {
        const res = await fetch(`${addr}/v1/client/fs/logs/${allocs[0]!.ID}?task=app&type=${type}&plain=true&origin=start`, { headers: nomadHeaders() })
        return res.text()
      }),
    )),
  ]
  for (const text of shown) assert.ok(!text.includes(a!.token), `the secret shows in: ${text.slice(0, 200)}`)
})
