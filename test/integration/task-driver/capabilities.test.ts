// Components hold no credentials: they call the runner's capability API, which
// opens exactly what the task's grants allow, and nothing else is reachable.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import pg from 'pg'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { ARTIFACTS_BUCKET, s3BucketCredentials } from '../../../infra/cloud/agents/s3.ts'
import { layout } from '../../../infra/cloud/config.ts'
import { loadOrCreateCredentials } from '../../../infra/cloud/credentials.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { stateFile, type RunnerSpec } from '../../../task-driver/runner/runner-spec.ts'
import { s3Client } from '../../../task-driver/s3-client.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { capabilityProbeComponent, helloComponent } from '../../harness/components.ts'
import { waitForMessage } from '../../harness/mailbox.ts'
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
  const grants = { buckets: ['cloud-pdfs'], request_log: true, services: [helloService], mail_to: ['example.com', 'ops@example.org'] }
  // Its app is its own: the rows it writes are that app's (rows-per-app.test.ts attacks the rest).
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, probe, { instances: 1, config: { app: id, grants } }))
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

  await t.test("request log: the row lands in PostgreSQL as the task's app's", async () => {
    const requestId = uniqueName('req')
    const res = await fetch(`${base}/log`, { method: 'POST', body: JSON.stringify({ request_id: requestId, request_text: 'hi', status: 'stored', client_ip: '127.0.0.9' }) })
    assert.equal(res.status, 201)
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    try {
      const { rows } = await client.query('SELECT app, client_ip, status FROM request_logs WHERE request_id = $1', [requestId])
      assert.deepEqual(rows, [{ app: id, client_ip: '127.0.0.9', status: 'stored' }])
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

  await t.test('mail: only to the recipients the grant names; any other address is refused naming the grant', async () => {
    const mail = (to: string) =>
      fetch(`${base}/mail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to, subject: `probe ${to}`, text: 'from the probe' }) })
    const allowed = `${uniqueName('granted')}@example.com`
    const sent = await mail(allowed)
    assert.equal(sent.status, 201, await sent.text())
    await waitForMessage(env.MAILDIR!, (m) => m.to.includes(allowed))
    for (const to of [`${uniqueName('other')}@example.net`, 'dev@example.org', `x@mail.example.com`]) {
      const refused = await mail(to)
      assert.equal(refused.status, 403, to)
      assert.match(await refused.text(), /to: this address is not among the recipients grants\.mail names/)
    }
  })

  await t.test('egress: the network outside the capability API is unreachable', async () => {
    const res = await fetch(`${base}/egress?url=${encodeURIComponent(`http://${config.host}:${config.consul.httpPort}/v1/status/leader`)}`)
    assert.equal(res.status, 403)
    assert.match(await res.text(), /refused/)
  })
})

/** 'ok', or the S3 error code the server answered (AccessDenied, NoSuchKey, …). */
async function s3Status(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  )
}

// Bucket A (granted): cloud-pdfs; bucket B (not granted): cloud-scratch.
test('a task granted bucket A holds only A\'s S3 keys, and S3 itself refuses them on bucket B', async (t) => {
  const { env, config } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const [granted, other] = ['cloud-pdfs', 'cloud-scratch']
  const creds = await loadOrCreateCredentials(config)
  const id = uniqueName('scoped')
  // The node engine: its runner process gets the task's backends in runner.json.
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, await capabilityProbeComponent(), { instances: 1, config: { engine: 'node', grants: { buckets: [granted] } } }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const base = allocAddress(alloc!)

  const file = stateFile(path.join(layout(config).nomadData, 'alloc', alloc!.ID, 'app', '.wasm-runner'), 'runner.json')
  const text = await readFile(file, 'utf8')
  const spec = JSON.parse(text) as RunnerSpec
  assert.deepEqual(Object.keys(spec.capabilities.buckets ?? {}), [granted], 'only the granted bucket\'s identity')
  const otherKeys = s3BucketCredentials(creds, other)
  for (const secret of [otherKeys.accessKey, otherKeys.secretKey, creds.s3SecretKey, creds.s3PublisherSecretKey])
    assert.ok(!text.includes(secret), 'runner.json holds no key of another bucket, the admin or the publisher')
  assert.equal(spec.capabilities.fetchS3?.accessKey, creds.s3DriverAccessKey, 'and the fetch-only key')

  const key = `${uniqueName('scoped')}.txt`
  const body = Buffer.from('bucket B is not ours')
  const admin = s3FromEnv(env)
  await admin.putObject(other, key, body, body.length)
  t.after(async () => {
    await admin.removeObject(other, key).catch(() => {})
    await admin.removeObject(granted, key).catch(() => {})
    await admin.removeObject(ARTIFACTS_BUCKET, key).catch(() => {})
  })

  await t.test('S3 itself: the keys the task holds work on A and get AccessDenied on B', async () => {
    const asTask = s3Client(spec.capabilities.buckets![granted]!)
    assert.equal(await s3Status(asTask.putObject(granted, key, body, body.length)), 'ok')
    assert.equal(await s3Status(asTask.statObject(granted, key)), 'ok')
    assert.equal(await s3Status(asTask.putObject(other, key, body, body.length)), 'AccessDenied', 'write on B')
    assert.equal(await s3Status(asTask.getObject(other, key)), 'AccessDenied', 'read on B')
    assert.equal(await s3Status(asTask.putObject(ARTIFACTS_BUCKET, key, body, body.length)), 'AccessDenied', 'write on artifacts')
  })

  await t.test('S3 itself: the fetch-only key reads artifacts, and cannot write them nor touch the data buckets', async () => {
    const fetcher = s3Client(spec.capabilities.fetchS3!)
    assert.equal(await s3Status(fetcher.putObject(ARTIFACTS_BUCKET, key, body, body.length)), 'AccessDenied', 'write on artifacts')
    assert.equal(await s3Status(admin.putObject(ARTIFACTS_BUCKET, key, body, body.length)), 'ok')
    assert.equal(await s3Status(fetcher.statObject(ARTIFACTS_BUCKET, key)), 'ok', 'read on artifacts')
    assert.equal(await s3Status(fetcher.getObject(granted, key)), 'AccessDenied', 'read on A')
    assert.equal(await s3Status(fetcher.putObject(other, key, body, body.length)), 'AccessDenied', 'write on B')
  })

  await t.test('the capability API: A works, B is refused naming the grant', async () => {
    const ok = await fetch(`${base}/blob/${granted}/${key}`, { method: 'PUT', body: 'through the capability' })
    assert.equal(ok.status, 200)
    assert.equal(await ok.text(), 'through the capability')
    const res = await fetch(`${base}/blob/${other}/${key}`, { method: 'PUT', body: 'nope' })
    assert.equal(res.status, 403)
    assert.match(await res.text(), /bucket cloud-scratch is not granted to this task \(grants\.buckets\)/)
  })
})
