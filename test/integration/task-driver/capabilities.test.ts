// Components hold no credentials: they call the runner's capability API, which
// opens exactly what the task's grants allow, and nothing else is reachable.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { s3FromEnv } from '../../../workloads/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { capabilityProbeComponent, helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, stopJob, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

test('granted capabilities work from inside a component; everything else is refused', async (t) => {
  const { env, config } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const hello = await helloComponent()
  const helloService = uniqueName('greeter')
  await nomad(addr, 'PUT', '/v1/jobs', {
    Job: renderWasmServiceJob({ name: helloService, component: { sha256: hello.sha256, source: hello.file }, count: 1, port: 'dynamic', service: { name: helloService, checkPath: '/' } }),
  })
  t.after(() => stopJob(addr, helloService).catch(() => {}))

  const probe = await capabilityProbeComponent()
  const id = uniqueName('probe')
  const grants = { buckets: ['cloud-pdfs'], request_log: true, services: [helloService] }
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, probe, { instances: 1, config: { grants } }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const base = allocAddress(alloc!)
  const key = `${uniqueName('probe')}.txt`
  const s3 = s3FromEnv(env)
  t.after(() => s3.removeObject('cloud-pdfs', key).catch(() => {}))

  await t.test('blob: write and read back in a granted bucket, stored in S3', async () => {
    const res = await fetch(`${base}/blob/cloud-pdfs/${key}`, { method: 'PUT', body: 'stored through a capability' })
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'stored through a capability')
    const stat = await s3.statObject('cloud-pdfs', key)
    assert.equal(stat.size, 'stored through a capability'.length)
  })

  await t.test('blob: a bucket that is not granted is refused, naming the grant', async () => {
    const res = await fetch(`${base}/blob/artifacts/${key}`, { method: 'PUT', body: 'nope' })
    assert.equal(res.status, 403)
    assert.match(await res.text(), /bucket artifacts is not granted to this task \(grants\.buckets\)/)
  })

  await t.test('presign: a time-limited link that works without credentials', async () => {
    const res = await fetch(`${base}/presign/cloud-pdfs/${key}`, { method: 'POST' })
    const { url } = (await res.json()) as { url: string }
    assert.match(url, /X-Amz-Expires=60/)
    assert.equal(await (await fetch(url)).text(), 'stored through a capability')
  })

  await t.test('request log: the row lands in PostgreSQL', async () => {
    const requestId = uniqueName('req')
    const res = await fetch(`${base}/log`, { method: 'POST', body: JSON.stringify({ request_id: requestId, request_text: 'hi', status: 'stored', client_ip: '127.0.0.9' }) })
    assert.equal(res.status, 201)
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    try {
      const { rows } = await client.query('SELECT client_ip, status FROM request_logs WHERE request_id = $1', [requestId])
      assert.deepEqual(rows, [{ client_ip: '127.0.0.9', status: 'stored' }])
      await client.query('DELETE FROM request_logs WHERE request_id = $1', [requestId])
    } finally {
      await client.end()
    }
  })

  await t.test('services: a granted Consul service is reached on its dynamic port; others are refused', async () => {
    const text = await waitFor(
      async () => {
        const res = await fetch(`${base}/call/${helloService}`)
        return res.status === 200 ? res.text() : false
      },
      { timeoutMs: 90_000, what: `${helloService} to pass its check and answer through the capability` },
    )
    assert.equal(text, 'hello from wasm\n')
    const denied = await fetch(`${base}/call/consul`)
    assert.equal(denied.status, 403)
  })

  await t.test('egress: the network outside the capability API is unreachable', async () => {
    const res = await fetch(`${base}/egress?url=${encodeURIComponent(`http://${config.host}:${config.consul.httpPort}/v1/status/leader`)}`)
    assert.equal(res.status, 403)
    assert.match(await res.text(), /refused/)
  })
})
