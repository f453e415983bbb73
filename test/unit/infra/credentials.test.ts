import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import pg from 'pg'
import { loadConfig, layout } from '../../../infra/cloud/config.ts'
import { cloudEnv, loadOrCreateCredentials, readEnvFile, writeEnvFile } from '../../../infra/cloud/credentials.ts'

test('credentials are generated once, kept private, and published in cloud.env', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'creds-'))
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: dir })
  const first = await loadOrCreateCredentials(config)
  const second = await loadOrCreateCredentials(config)
  assert.deepEqual(second, first, 'a second start reuses the stored credentials')
  assert.ok(first.s3SecretKey.length >= 30)
  assert.equal((await stat(layout(config).credentials)).mode & 0o777, 0o600)

  const env = cloudEnv(config, first)
  const file = await writeEnvFile(config, env)
  assert.deepEqual(await readEnvFile(file), env)
  assert.equal(env.NOMAD_ADDR, 'https://127.0.0.1:4646')
  assert.equal(env.CONSUL_HTTP_ADDR, 'https://127.0.0.1:8500')
  assert.equal(env.CONSUL_CACERT, path.join(dir, 'tls', 'ca.pem'))
  assert.equal(env.NOMAD_CACERT, env.CONSUL_CACERT)
  // The shared services: TLS only, verified against the same CA.
  assert.equal(env.S3_ENDPOINT, 'https://127.0.0.1:9000')
  assert.equal(env.S3_CACERT, env.CONSUL_CACERT)
  assert.equal(env.SMTP_CACERT, env.CONSUL_CACERT)
  const verifyFull = `\\?sslmode=verify-full&sslrootcert=${path.join(dir, 'tls', 'ca.pem').replace(/[.]/g, '\\.')}$`
  assert.match(env.DATABASE_URL!, new RegExp(`^postgres://lean_cloud:.+@127\\.0\\.0\\.1:15432/lean_cloud${verifyFull}`))
  assert.match(env.DATABASE_WRITER_URL!, new RegExp(`^postgres://lean_writer:.+@127\\.0\\.0\\.1:15432/lean_cloud${verifyFull}`))
  // What node-postgres makes of the URL: full verification against the CA (the file is read at parse time).
  await mkdir(path.dirname(env.S3_CACERT!), { recursive: true })
  await writeFile(env.S3_CACERT!, 'CA PEM')
  const client = new pg.Client({ connectionString: env.DATABASE_URL! }) as unknown as { connectionParameters: { ssl: unknown; password: string } }
  assert.deepEqual(client.connectionParameters.ssl, { ca: 'CA PEM' })
  assert.equal(client.connectionParameters.password, first.postgresPassword)
  assert.notEqual(first.postgresWriterPassword, first.postgresPassword)
  assert.equal(env.CONSUL_HTTP_TOKEN, first.consulManagementToken)
  assert.match(first.consulManagementToken, /^[0-9a-f-]{36}$/, 'Consul token secrets are UUIDs')
  assert.equal(Buffer.from(first.consulGossipKey, 'base64').length, 32)
  assert.equal(env.SMTP_ADDR, '127.0.0.1:2525')
  assert.equal(env.INGRESS_ADDR, '127.0.0.1:8088')
  assert.equal(env.MAILDIR, path.join(dir, 'maildir'))
  assert.deepEqual(Object.keys(env).sort(), [
    'CONSUL_CACERT',
    'CONSUL_DNS_ADDR',
    'CONSUL_HTTP_ADDR',
    'CONSUL_HTTP_SSL',
    'CONSUL_HTTP_TOKEN',
    'DATABASE_URL',
    'DATABASE_WRITER_URL',
    'INGRESS_ADDR',
    'LEAN_CLOUD_DATA_DIR',
    'LEAN_CONTROLLER_CONSUL_TOKEN',
    'MAILDIR',
    'NOMAD_ADDR',
    'NOMAD_CACERT',
    'NOMAD_NAMESPACE',
    'NOMAD_TOKEN',
    'S3_ACCESS_KEY',
    'S3_CACERT',
    'S3_ENDPOINT',
    'S3_PUBLISHER_ACCESS_KEY',
    'S3_PUBLISHER_SECRET_KEY',
    'S3_REGION',
    'S3_SECRET_KEY',
    'SMTP_ADDR',
    'SMTP_CACERT',
  ])
})

test('a credentials file from an earlier version keeps its secrets and gains the new ones', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'creds-'))
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: dir })
  const old = { s3AccessKey: 'lean-old', s3SecretKey: 'old-secret', postgresPassword: 'old-pw', postgresClusterId: 'old-id' }
  await writeFile(layout(config).credentials, JSON.stringify(old), { mode: 0o600 })
  const upgraded = await loadOrCreateCredentials(config)
  assert.equal(upgraded.s3AccessKey, 'lean-old')
  assert.equal(upgraded.postgresPassword, 'old-pw')
  assert.match(upgraded.s3PublisherAccessKey, /^lean-publisher-/)
  assert.notEqual(upgraded.s3DriverSecretKey, upgraded.s3SecretKey)
  assert.ok(upgraded.s3BucketKeySeed.length >= 40, 'the seed of the per-bucket S3 keys is added')
  assert.deepEqual(JSON.parse(await readFile(layout(config).credentials, 'utf8')), upgraded, 'the additions are stored')
})
