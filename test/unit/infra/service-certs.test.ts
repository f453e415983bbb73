// The shared services' certificates of the cloud's CA (ensureCloudCert: names
// and addresses in, files out), and how S3, PostgreSQL and SMTP serve with them.
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { layout, loadConfig } from '../../../infra/cloud/config.ts'
import { PG_HBA } from '../../../infra/cloud/agents/postgres.ts'
import { postgresAgent } from '../../../infra/cloud/agents/postgres.ts'
import { s3Agent } from '../../../infra/cloud/agents/s3.ts'
import { smtpAgent } from '../../../infra/cloud/agents/smtp.ts'
import { certSpecFor, cloudCertFiles, ensureCloudCert, ensureTls, serviceCertFiles } from '../../../infra/cloud/tls.ts'
import { testCredentials } from './test-credentials.ts'

async function tempCloud(t: { after(fn: () => Promise<void>): void }, env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-svc-tls-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return loadConfig({ LEAN_CLOUD_DATA_DIR: dir, ...env })
}

const cert = async (file: string) => new X509Certificate(await readFile(file))
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'

test('certSpecFor sorts hosts into DNS names and IP addresses and is named after the first', () => {
  assert.deepEqual(certSpecFor(['node-2.example', '10.0.0.2', 'localhost', '::1', '10.0.0.2']), {
    commonName: 'node-2.example',
    dnsNames: ['node-2.example', 'localhost'],
    ips: ['10.0.0.2', '::1'],
  })
  assert.throws(() => certSpecFor([]), /at least one host/)
})

test('ensureTls makes one certificate per shared service: its Consul name, localhost and the cloud address, server use only', async (t) => {
  const config = await tempCloud(t, { LEAN_CLOUD_HOST: '127.0.0.3' })
  await ensureTls(config)
  const ca = await cert(layout(config).tls.caCert)
  for (const service of ['s3', 'postgres', 'smtp'] as const) {
    const files = serviceCertFiles(config, service)
    assert.deepEqual(files, { cert: path.join(config.dataDir, 'tls', `${service}.pem`), key: path.join(config.dataDir, 'tls', `${service}-key.pem`) })
    const leaf = await cert(files.cert)
    assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), `${service}: signed by the cloud's CA`)
    assert.equal(leaf.ca, false)
    assert.equal(leaf.subjectAltName, `DNS:${service}.service.consul, DNS:localhost, IP Address:127.0.0.3`)
    assert.match(leaf.subject, new RegExp(`CN=${service}\\.service\\.consul`))
    assert.equal(leaf.checkHost(`${service}.service.consul`), `${service}.service.consul`)
    assert.equal(leaf.checkIP('127.0.0.3'), '127.0.0.3')
    assert.equal(leaf.checkIP('127.0.0.1'), undefined, 'only the addresses it was given')
    // A service is only ever a server: its key cannot pass as a client of Consul's or Nomad's mutual TLS.
    assert.deepEqual([...leaf.keyUsage!], [SERVER_AUTH])
    assert.equal((await stat(files.key)).mode & 0o777, 0o600)
  }
})

test('ensureCloudCert: names and addresses in, files out; kept while good, made again for other hosts or a new CA', async (t) => {
  const config = await tempCloud(t)
  await assert.rejects(ensureCloudCert(config, 'node-a', ['10.1.0.5']), /the cloud's CA .* is missing/)
  await ensureTls(config)
  const made = await ensureCloudCert(config, 'node-a', ['node-a.node.consul', '10.1.0.5'])
  assert.deepEqual(made, { ...cloudCertFiles(config, 'node-a'), renewed: 'missing' })
  const first = await readFile(made.cert, 'utf8')
  assert.equal((await cert(made.cert)).subjectAltName, 'DNS:node-a.node.consul, IP Address:10.1.0.5')

  assert.deepEqual(await ensureCloudCert(config, 'node-a', ['node-a.node.consul', '10.1.0.5']), cloudCertFiles(config, 'node-a'), 'kept')
  assert.equal(await readFile(made.cert, 'utf8'), first)

  const moved = await ensureCloudCert(config, 'node-a', ['node-a.node.consul', '10.1.0.6'])
  assert.match(moved.renewed ?? '', /^it names DNS:node-a\.node\.consul, IP Address:10\.1\.0\.5, not /)

  // A new CA: ensureTls makes the services' again, and a node's is made again on its next call.
  await rm(layout(config).tls.caCert)
  const renewed = (await ensureTls(config)).map((r) => path.basename(r.file))
  assert.deepEqual(renewed.filter((f) => ['s3.pem', 'postgres.pem', 'smtp.pem'].includes(f)), ['s3.pem', 'postgres.pem', 'smtp.pem'])
  assert.equal((await ensureCloudCert(config, 'node-a', ['node-a.node.consul', '10.1.0.6'])).renewed, 'it is not signed by the current CA')
  assert.throws(() => cloudCertFiles(config, '../ca'), /not a certificate name/)
  assert.throws(() => cloudCertFiles(config, 'ca'), /not a certificate name/)
})

test('S3 serves HTTPS only with its certificate, SMTP requires STARTTLS with its own, PostgreSQL TLS only', async () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const ctx = { config, credentials: testCredentials, binaries: { seaweedfs: '/bin/weed' }, progress: () => {} }
  const s3 = (await s3Agent.spawnSpec(ctx)).args
  assert.ok(s3.includes('-s3.cert.file=/srv/lc/tls/s3.pem') && s3.includes('-s3.key.file=/srv/lc/tls/s3-key.pem'))
  assert.ok(!s3.some((a) => a.startsWith('-s3.port.https')), 'no second, plain port')

  const smtp = (await smtpAgent.spawnSpec(ctx)).args.join(' ')
  assert.match(smtp, /--tlscert \/srv\/lc\/tls\/smtp\.pem --tlskey \/srv\/lc\/tls\/smtp-key\.pem/)
  assert.doesNotMatch(smtp, /--no-requiretls/)

  assert.ok(s3Agent.usesTls && smtpAgent.usesTls && postgresAgent.usesTls, 'each restarts when its certificate is renewed')
  // Only hostssl lines: a connection without TLS matches none and is refused, from any address.
  const rules = PG_HBA.split('\n').filter((l) => l && !l.startsWith('#'))
  assert.deepEqual(rules.map((l) => l.split(/\s+/)[0]), ['hostssl', 'hostssl'])
  assert.ok(rules.every((l) => l.endsWith('scram-sha-256')))
})
