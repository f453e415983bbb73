// The wasm driver's per-bucket S3 identities: how the plugin config declares
// and parses them, which of them a task's runner is given, and how the
// capability API refuses a bucket it has no identity for.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { DriverError } from '../../../task-driver/kit/errors.ts'
import { grantedBackends } from '../../../task-driver/wasm/launch-task.ts'
import { parsePluginConfig, pluginConfigSpec } from '../../../task-driver/wasm/plugin-config.ts'
import { loadProtocol } from '../../../task-driver/kit/proto/load.ts'
import { startCapabilityServer } from '../../../task-driver/capabilities/capability-server.ts'
import { parseTaskConfig } from '../../../task-driver/wasm/task-config.ts'
import type { HclSpec } from '../../../task-driver/kit/hclspec.ts'

const s3 = { s3_endpoint: 'http://127.0.0.1:9000', s3_access_key: 'fetch-ak', s3_secret_key: 'fetch-sk' }
const keys = (name: string) => ({ access_key: `${name}-ak`, secret_key: `${name}-sk` })

/** Asserts a LEAN_ERR_DRIVER_CONFIG whose message starts by naming the field. */
function configError(raw: Record<string, unknown>, field: string, reason: RegExp): void {
  assert.throws(
    () => parsePluginConfig(raw),
    (err: unknown) => {
      assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`)
      assert.equal(err.code, 'LEAN_ERR_DRIVER_CONFIG')
      assert.ok(err.message.startsWith(`plugin config ${field}: `), `expected the message to name ${field}: ${err.message}`)
      assert.match(err.message, reason)
      return true
    },
  )
}

test('the plugin config spec declares s3_bucket as labelled blocks, and it serializes as an hclspec block_map', () => {
  const attrs = (pluginConfigSpec as Extract<HclSpec, { object: unknown }>).object.attributes
  assert.deepEqual(Object.keys(attrs.s3_bucket!), ['block_map'])
  const bytes = loadProtocol().services.BasePlugin.ConfigSchema!.responseSerialize({ spec: pluginConfigSpec })
  const back = loadProtocol().services.BasePlugin.ConfigSchema!.responseDeserialize(bytes) as {
    spec: { object: { attributes: Record<string, { block: string; block_map: { name: string; labels: string[] } }> } }
  }
  const bucket = back.spec.object.attributes.s3_bucket!
  assert.equal(bucket.block, 'block_map')
  assert.deepEqual({ name: bucket.block_map.name, labels: bucket.block_map.labels }, { name: 's3_bucket', labels: ['bucket'] })
})

test('s3_bucket blocks become one S3 access per bucket, on the endpoint and region of the fetch-only key', () => {
  const c = parsePluginConfig({ ...s3, s3_region: 'eu-west-1', s3_bucket: { 'cloud-pdfs': keys('pdfs'), 'cloud-scratch': keys('scratch') } })
  assert.deepEqual(c.s3, { endpoint: 'http://127.0.0.1:9000', accessKey: 'fetch-ak', secretKey: 'fetch-sk', region: 'eu-west-1' })
  assert.deepEqual(c.s3Buckets, {
    'cloud-pdfs': { endpoint: 'http://127.0.0.1:9000', accessKey: 'pdfs-ak', secretKey: 'pdfs-sk', region: 'eu-west-1' },
    'cloud-scratch': { endpoint: 'http://127.0.0.1:9000', accessKey: 'scratch-ak', secretKey: 'scratch-sk', region: 'eu-west-1' },
  })
  // No blocks: Nomad sends an empty map or null; no S3 at all: none either.
  assert.deepEqual(parsePluginConfig({ ...s3, s3_bucket: {} }).s3Buckets, {})
  assert.deepEqual(parsePluginConfig({ ...s3, s3_bucket: null }).s3Buckets, {})
  assert.deepEqual(parsePluginConfig({}).s3Buckets, {})
})

test('s3_bucket errors name the block and the attribute', () => {
  configError({ ...s3, s3_bucket: { 'cloud-pdfs': { access_key: 'ak' } } }, 's3_bucket "cloud-pdfs" secret_key', /required/)
  configError({ ...s3, s3_bucket: { 'cloud-pdfs': { access_key: '', secret_key: 'sk' } } }, 's3_bucket "cloud-pdfs" access_key', /required/)
  configError({ ...s3, s3_bucket: { 'cloud-pdfs': null } }, 's3_bucket "cloud-pdfs" access_key', /required/)
  configError({ ...s3, s3_bucket: { Not_A_Bucket: keys('x') } }, 's3_bucket "Not_A_Bucket"', /not an S3 bucket name/)
  configError({ s3_bucket: { 'cloud-pdfs': keys('pdfs') } }, 's3_bucket "cloud-pdfs"', /needs s3_endpoint/)
  configError({ ...s3, s3_bucket: [keys('pdfs')] }, 's3_bucket', /labelled blocks/)
  configError({ s3_endpoint: 'http://127.0.0.1:9000', s3_bucket: { 'cloud-pdfs': keys('pdfs') } }, 's3_access_key and s3_secret_key', /required when s3_endpoint is set/)
})

const access = (name: string) => ({ endpoint: 'http://127.0.0.1:9', accessKey: `${name}-ak`, secretKey: `${name}-sk`, region: 'us-east-1' })
const grantsFor = (buckets: string[]) => parseTaskConfig({ component: '/c.wasm', sha256: 'a'.repeat(64), port: 'http', grants: { buckets } }).grants

test("a task's backends keep only its granted buckets' identities, and the fetch-only one", () => {
  const all = { fetchS3: access('fetch'), buckets: { 'cloud-pdfs': access('pdfs'), 'cloud-scratch': access('scratch') }, databaseUrl: 'postgres://x' }
  assert.deepEqual(grantedBackends(all, grantsFor(['cloud-pdfs'])), { fetchS3: access('fetch'), buckets: { 'cloud-pdfs': access('pdfs') }, databaseUrl: 'postgres://x' })
  assert.deepEqual(grantedBackends(all, grantsFor([])).buckets, {})
  assert.deepEqual(grantedBackends(all, grantsFor(['cloud-other'])).buckets, {}, 'a grant without a configured identity adds none')
  assert.deepEqual(grantedBackends({}, grantsFor(['cloud-pdfs'])).buckets, {})
})

test('the capability API: an ungranted bucket is 403 naming the grant; a granted bucket without an identity is 503 naming the plugin config', async (t) => {
  const grants = grantsFor(['cloud-pdfs', 'cloud-unconfigured'])
  const server = await startCapabilityServer({ app: 'buckets', grants }, grantedBackends({ buckets: { 'cloud-pdfs': access('pdfs'), 'cloud-scratch': access('scratch') } }, grants), 'token', pino({ level: 'silent' }))
  t.after(() => server.close())
  const call = async (bucket: string) => {
    const res = await fetch(`${server.url}/blob/${bucket}/k.txt`, { headers: { authorization: 'Bearer token' } })
    return { status: res.status, body: (await res.json()) as { error: string; code: string } }
  }
  const denied = await call('cloud-scratch')
  assert.equal(denied.status, 403)
  assert.equal(denied.body.code, 'LEAN_ERR_CAPABILITY_DENIED')
  assert.match(denied.body.error, /bucket cloud-scratch is not granted to this task \(grants\.buckets\)/)
  const unavailable = await call('cloud-unconfigured')
  assert.equal(unavailable.status, 503)
  assert.equal(unavailable.body.code, 'LEAN_ERR_CAPABILITY_UNAVAILABLE')
  assert.match(unavailable.body.error, /no S3 identity for bucket cloud-unconfigured \(plugin config s3_bucket "cloud-unconfigured"\)/)
})
