// Components hold no credentials: they call the task's capability API, which
// opens exactly what the task's grants allow, and nothing else is reachable.
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import pg from 'pg'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { s3BucketCredentials } from '../../../infra/cloud/agents/s3.ts'
import { layout } from '../../../infra/cloud/config.ts'
import { loadOrCreateCredentials } from '../../../infra/cloud/credentials.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
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
  const grants = { buckets: ['cloud-pdfs'], request_log: true, outbound: [`http://${helloService}.service.consul`], mail_to: ['example.com', 'ops@example.org'] }
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

  await t.test('outbound: plain wasi:http reaches a granted Consul service on its dynamic port; others are refused', async () => {
    const egress = (url: string) => fetch(`${base}/egress?url=${encodeURIComponent(url)}`)
    const text = await waitFor(
      async () => {
        const res = await egress(`http://${helloService}.service.consul/`)
        return res.status === 200 ? res.text() : false
      },
      { timeoutMs: 90_000, what: `${helloService} to pass its check and answer the probe's own call` },
    )
    assert.equal(text, 'reached: 200 hello from wasm\n')
    for (const url of ['http://consul.service.consul/v1/status/leader', `http://${helloService}.service.consul:${config.consul.httpPort}/`, 'http://example.com/']) {
      const denied = await egress(url)
      assert.equal(denied.status, 403, url)
      assert.match(await denied.text(), /^refused: /, url)
    }
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

  await t.test('egress: the node itself stays unreachable (Consul\'s HTTP API on loopback)', async () => {
    const res = await fetch(`${base}/egress?url=${encodeURIComponent(`http://${config.host}:${config.consul.httpPort}/v1/status/leader`)}`)
    assert.equal(res.status, 403)
    assert.match(await res.text(), /refused/)
  })
})

// Bucket A (granted): cloud-pdfs; bucket B (not granted): cloud-scratch. The
// plugin holds the S3 identities and serves the task's capability API with A's
// only (grantedBackends, bucket-identities.test.ts); that S3 itself refuses
// A's keys on B is infra/s3.test.ts.
test('a task granted bucket A reaches A through its capability API, not B, and its files hold no S3 key', async (t) => {
  const { env, config } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const [granted, other] = ['cloud-pdfs', 'cloud-scratch']
  const creds = await loadOrCreateCredentials(config)
  const id = uniqueName('scoped')
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, await capabilityProbeComponent(), { instances: 1, config: { grants: { buckets: [granted] } } }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const base = allocAddress(alloc!)

  // What the host is given (its spec with the guest's env, the recoverable grants and token, its state files).
  const stateDir = path.join(layout(config).nomadData, 'alloc', alloc!.ID, 'app', '.wasm-runner')
  const files = (await readdir(stateDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name)
  assert.ok(files.includes('wasm-host.json') && files.includes('capabilities.json'), files.join(', '))
  const secrets = [granted, other].map((bucket) => s3BucketCredentials(creds, bucket).secretKey)
  for (const file of files) {
    const text = await readFile(path.join(stateDir, file), 'utf8')
    for (const secret of [...secrets, creds.s3SecretKey, creds.s3PublisherSecretKey, creds.s3DriverSecretKey])
      assert.ok(!text.includes(secret), `${file} holds no S3 key, not even of the granted bucket`)
  }

  const key = `${uniqueName('scoped')}.txt`
  const admin = s3FromEnv(env)
  t.after(async () => {
    await admin.removeObject(granted, key).catch(() => {})
    await admin.removeObject(other, key).catch(() => {})
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
