// SeaweedFS's security.toml as cloud:up writes it: JWT keys for the volume
// servers and the filer, derived from the stored seed and each different;
// mutual TLS on every gRPC part with the S3 CA and the parts' names; HTTPS with
// client certificates on the master and the volume servers.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { s3JwtKey, s3SecurityToml } from '../../../infra/cloud/agents/s3-security.ts'
import { s3PartCertSpec } from '../../../infra/cloud/tls.ts'
import { testCredentials } from './test-credentials.ts'

test('security.toml: four distinct JWT keys from the seed, gRPC mTLS for every part, HTTPS for master and volume', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const toml = s3SecurityToml(config, testCredentials)
  const keys = (['volume-write', 'volume-read', 'filer-write', 'filer-read'] as const).map((p) => s3JwtKey(testCredentials, p))
  assert.equal(new Set(keys).size, 4)
  for (const key of keys) assert.ok(toml.includes(`key = "${key}"`))
  assert.notEqual(s3JwtKey({ ...testCredentials, s3JwtSeed: 'another' }, 'volume-read'), keys[1], 'another seed, other keys')
  for (const section of ['jwt.signing', 'jwt.signing.read', 'jwt.filer_signing', 'jwt.filer_signing.read', 'grpc', 'grpc.master', 'grpc.volume', 'grpc.filer', 'grpc.s3', 'grpc.client', 'https.client', 'https.master', 'https.volume'])
    assert.match(toml, new RegExp(`^\\[${section.replace(/\./g, '\\.')}\\]$`, 'm'), section)
  assert.match(toml, /^ca = "\/srv\/lc\/tls\/s3\/ca\.pem"$/m, "the S3 server's own CA, not the cloud's")
  assert.equal(toml.match(/allowed_commonNames = "lean-s3-master,lean-s3-volume,lean-s3-filer,lean-s3-client"/g)?.length, 4)
  assert.match(toml, /\[https\.client\]\nenabled = true/)
  assert.deepEqual(s3PartCertSpec(config, 'filer'), { commonName: 'lean-s3-filer', dnsNames: ['localhost'], ips: ['127.0.0.1'] })
})
