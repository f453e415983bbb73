import assert from 'node:assert/strict'
import { test } from 'node:test'
import { dataBuckets, s3BucketCredentials, s3Identities } from '../../../infra/cloud/agents/s3.ts'
import { ARTIFACTS_BUCKET } from '../../../ground/buckets.ts'
import { renderVirtPluginBlock, renderWasmPluginBlock } from '../../../infra/cloud/agents/nomad.ts'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { testCredentials } from './test-credentials.ts'
import { parsePluginConfig } from '../../../task-driver/wasm/plugin-config.ts'

const creds = { ...testCredentials, s3BucketKeySeed: 'seed-one' }

test('every configured bucket but artifacts is a data bucket', () => {
  const config = loadConfig({})
  assert.deepEqual(dataBuckets(config), ['cloud-pdfs', 'cloud-scratch'])
  assert.ok(!dataBuckets(config).includes(ARTIFACTS_BUCKET))
})

test('a bucket key is derived from the seed and the bucket: stable, distinct per bucket and per seed', () => {
  const pdfs = s3BucketCredentials(creds, 'cloud-pdfs')
  assert.deepEqual(s3BucketCredentials(creds, 'cloud-pdfs'), pdfs, 'the same on every start')
  assert.match(pdfs.accessKey, /^lean-bucket-cloud-pdfs-[A-Za-z0-9_-]{8}$/)
  assert.ok(pdfs.secretKey.length >= 40)
  const scratch = s3BucketCredentials(creds, 'cloud-scratch')
  assert.notEqual(scratch.accessKey, pdfs.accessKey)
  assert.notEqual(scratch.secretKey, pdfs.secretKey)
  const otherSeed = s3BucketCredentials({ ...creds, s3BucketKeySeed: 'seed-two' }, 'cloud-pdfs')
  assert.notEqual(otherSeed.secretKey, pdfs.secretKey, 'a new seed rotates every bucket key')
})

test('the identities: admin, publisher, a read-only artifact reader, and one identity per data bucket on that bucket only', () => {
  const { identities } = s3Identities(creds, ['cloud-pdfs', 'cloud-scratch'])
  const byName = Object.fromEntries(identities.map((i) => [i.name, i]))
  assert.deepEqual(Object.keys(byName), ['admin', 'publisher', 'artifact-reader', 'bucket-cloud-pdfs', 'bucket-cloud-scratch'])
  assert.deepEqual(byName['artifact-reader']!.actions, ['Read:artifacts', 'List:artifacts'])
  assert.deepEqual(byName['artifact-reader']!.credentials, [{ accessKey: 'DAK', secretKey: 'DSK' }])
  assert.deepEqual(byName['publisher']!.actions, ['Read:artifacts', 'List:artifacts', 'Write:artifacts'])
  for (const bucket of ['cloud-pdfs', 'cloud-scratch']) {
    const identity = byName[`bucket-${bucket}`]!
    assert.deepEqual(identity.actions, [`Read:${bucket}`, `List:${bucket}`, `Write:${bucket}`, `Tagging:${bucket}`])
    assert.deepEqual(identity.credentials, [s3BucketCredentials(creds, bucket)])
  }
  const accessKeys = identities.flatMap((i) => i.credentials.map((c) => c.accessKey))
  assert.equal(new Set(accessKeys).size, accessKeys.length, 'no two identities share an access key')
  // Only the admin holds unscoped actions.
  assert.deepEqual(identities.filter((i) => i.actions.some((a) => !a.includes(':'))).map((i) => i.name), ['admin'])
})

test('the wasm plugin block carries the fetch-only key and one s3_bucket block per data bucket, which the driver parses back', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const block = renderWasmPluginBlock(config, creds)
  assert.match(block, /s3_access_key = "DAK"/)
  for (const bucket of dataBuckets(config)) {
    const keys = s3BucketCredentials(creds, bucket)
    assert.match(block, new RegExp(`s3_bucket "${bucket}" \\{\\s+access_key = "${keys.accessKey}"\\s+secret_key = "${keys.secretKey}"\\s+\\}`))
  }
  assert.doesNotMatch(block, /s3_bucket "artifacts"/)
  // Nomad hands the blocks to the driver as a map by label (what the hclspec block_map decodes to).
  const raw = {
    s3_endpoint: `https://127.0.0.1:${config.s3.port}`,
    s3_ca_file: '/srv/lc/tls/ca.pem',
    s3_access_key: 'DAK',
    s3_secret_key: 'DSK',
    s3_bucket: Object.fromEntries(dataBuckets(config).map((b) => [b, { access_key: s3BucketCredentials(creds, b).accessKey, secret_key: s3BucketCredentials(creds, b).secretKey }])),
  }
  const parsed = parsePluginConfig(raw)
  assert.deepEqual(Object.keys(parsed.s3Buckets), dataBuckets(config))
  assert.equal(parsed.s3Buckets['cloud-pdfs']!.secretKey, s3BucketCredentials(creds, 'cloud-pdfs').secretKey)
  // Every identity verifies the S3 server against the same CA.
  assert.equal(parsed.s3?.caFile, '/srv/lc/tls/ca.pem')
  assert.equal(parsed.s3Buckets['cloud-pdfs']!.caFile, '/srv/lc/tls/ca.pem')
})

test('the virt plugin block fetches images with the fetch-only key and holds no bucket key', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const block = renderVirtPluginBlock(config, creds, '/images/tiny.json')
  assert.match(block, /s3_access_key\s+= "DAK"/)
  assert.match(block, /s3_secret_key\s+= "DSK"/)
  assert.match(block, /s3_endpoint\s+= "https:\/\/127\.0\.0\.1:9000"/)
  assert.match(block, /s3_ca_file\s+= "\/srv\/lc\/tls\/ca\.pem"/)
  assert.doesNotMatch(block, /s3_bucket|lean-bucket-/)
})
