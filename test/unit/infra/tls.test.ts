// The cloud's CA and the Consul and Nomad certificates: names, key modes,
// kept across starts, made again only when no longer good; and the agent
// configs that serve with them.
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { layout, loadConfig } from '../../../infra/cloud/config.ts'
import type { Credentials } from '../../../infra/cloud/credentials.ts'
import { consulConfigFor } from '../../../infra/cloud/agents/consul.ts'
import { renderNomadConfig } from '../../../infra/cloud/agents/nomad.ts'
import { consulCertSpec, ensureTls, renewalReason } from '../../../infra/cloud/tls.ts'

async function tempCloud(t: { after(fn: () => Promise<void>): void }, env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-tls-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return loadConfig({ LEAN_CLOUD_DATA_DIR: dir, ...env })
}

const cert = async (file: string) => new X509Certificate(await readFile(file))

const S3_FILES = ['s3/ca.pem', 's3/master.pem', 's3/volume.pem', 's3/filer.pem', 's3/client.pem']
/** The shared services' certificates, of the cloud's CA (service-certs.test.ts). */
const SERVICE_FILES = ['s3.pem', 'postgres.pem', 'smtp.pem']

test('first start makes a CA and the Consul and Nomad certificates it signs, keys owner-only', async (t) => {
  const config = await tempCloud(t)
  const files = layout(config).tls
  const made = await ensureTls(config)
  assert.deepEqual(
    made.map((m) => path.relative(files.dir, m.file)),
    ['ca.pem', 'consul.pem', 'nomad.pem', ...S3_FILES, ...SERVICE_FILES],
  )

  const ca = await cert(files.caCert)
  assert.ok(ca.ca, 'the CA certificate is a CA')
  assert.equal(ca.checkIssued(ca), true, 'self-signed')
  for (const key of [files.caKey, files.consulKey, files.nomadKey])
    assert.equal((await stat(key)).mode & 0o777, 0o600, key)

  const consul = await cert(files.consulCert)
  assert.equal(consul.ca, false)
  assert.ok(consul.checkIssued(ca) && consul.verify(ca.publicKey), 'Consul: signed by the CA')
  assert.equal(consul.subjectAltName, 'DNS:server.dc1.consul, DNS:localhost, IP Address:127.0.0.1')
  assert.equal(consul.checkHost('server.dc1.consul'), 'server.dc1.consul')
  assert.equal(consul.checkIP('127.0.0.1'), '127.0.0.1')

  const nomad = await cert(files.nomadCert)
  assert.ok(nomad.checkIssued(ca) && nomad.verify(ca.publicKey), 'Nomad: signed by the CA')
  assert.equal(
    nomad.subjectAltName,
    'DNS:server.global.nomad, DNS:client.global.nomad, DNS:localhost, IP Address:127.0.0.1',
  )
  // Each agent is a server to its callers and a client of its own RPC.
  assert.deepEqual([...nomad.keyUsage!].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])

  // The S3 server's parts have a CA of their own, which signs nothing else, in an owner-only folder.
  const s3Ca = await cert(files.s3.caCert)
  assert.notEqual(s3Ca.fingerprint256, ca.fingerprint256)
  const filer = await cert(files.s3.part('filer').cert)
  assert.ok(filer.checkIssued(s3Ca) && filer.verify(s3Ca.publicKey), "the filer's: signed by the S3 CA")
  assert.ok(!filer.verify(ca.publicKey), "not by the cloud's")
  assert.match(filer.subject, /CN=lean-s3-filer/)
  assert.ok(!consul.verify(s3Ca.publicKey), "Consul's is not the S3 CA's")
  assert.equal((await stat(files.s3.dir)).mode & 0o777, 0o700)
  for (const part of ['master', 'volume', 'filer', 'client']) assert.equal((await stat(files.s3.part(part).key)).mode & 0o777, 0o600)
})

test('a second start keeps every file; a certificate is made again when missing, for another host, or of another CA', async (t) => {
  const config = await tempCloud(t)
  const files = layout(config).tls
  await ensureTls(config)
  const before = await Promise.all(
    [files.caCert, files.consulCert, files.nomadCert, files.nomadKey].map((f) => readFile(f, 'utf8')),
  )
  assert.deepEqual(await ensureTls(config), [], 'nothing made again')
  assert.deepEqual(
    await Promise.all(
      [files.caCert, files.consulCert, files.nomadCert, files.nomadKey].map((f) => readFile(f, 'utf8')),
    ),
    before,
  )

  await rm(files.nomadKey)
  assert.deepEqual(
    (await ensureTls(config)).map((m) => [path.basename(m.file), m.reason]),
    [['nomad.pem', 'missing']],
  )

  // The same data dir, another loopback address: both leaves name it, the CA stays.
  const moved = loadConfig({ LEAN_CLOUD_DATA_DIR: config.dataDir, LEAN_CLOUD_HOST: '127.0.0.2' })
  assert.deepEqual(
    (await ensureTls(moved)).map((m) => path.relative(files.dir, m.file)),
    ['consul.pem', 'nomad.pem', ...S3_FILES.slice(1), ...SERVICE_FILES],
  )
  assert.equal(await readFile(files.caCert, 'utf8'), before[0])
  assert.match(
    (await cert(files.consulCert)).subjectAltName!,
    /IP Address:127\.0\.0\.1, IP Address:127\.0\.0\.2$/,
  )

  // A new CA (the old one deleted): every leaf is made again under it.
  await rm(files.caCert)
  const renewed = await ensureTls(moved)
  assert.deepEqual(
    renewed.map((m) => path.relative(files.dir, m.file)),
    ['ca.pem', 'consul.pem', 'nomad.pem', ...SERVICE_FILES],
    "the S3 CA and its certificates stay",
  )
  assert.equal(renewed[1]!.reason, 'it is not signed by the current CA')
})

test('renewalReason: expiring soon, a key of another certificate, and garbage are not good', async (t) => {
  const config = await tempCloud(t)
  const files = layout(config).tls
  await ensureTls(config)
  const ca = await cert(files.caCert)
  const [consulPem, consulKey, nomadKey] = await Promise.all(
    [files.consulCert, files.consulKey, files.nomadKey].map((f) => readFile(f, 'utf8')),
  )
  assert.equal(renewalReason(consulPem, consulKey, ca, consulCertSpec(config)), undefined)
  const inAYear = new Date(Date.now() + 380 * 86_400_000)
  assert.match(renewalReason(consulPem, consulKey, ca, consulCertSpec(config), inAYear) ?? '', /^it expires /)
  assert.equal(renewalReason(consulPem, nomadKey, ca), 'its key does not match')
  assert.match(renewalReason('not a certificate', consulKey, ca) ?? '', /^unreadable/)
  await writeFile(files.consulCert, 'garbage')
  assert.deepEqual(
    (await ensureTls(config)).map((m) => path.basename(m.file)),
    ['consul.pem'],
  )
})

const credentials = { consulGossipKey: 'g', consulManagementToken: 'm', consulDnsToken: 'd' } as Credentials

test('Consul serves HTTPS only, on the configured HTTP port, and mutual TLS on RPC', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc', LEAN_CLOUD_PORT_OFFSET: '1000' })
  const agent = JSON.parse(consulConfigFor(config, credentials)) as {
    ports: Record<string, number>
    tls: Record<string, Record<string, unknown>>
  }
  assert.equal(agent.ports.http, -1, 'no plain HTTP')
  assert.equal(agent.ports.https, 9500)
  assert.deepEqual(agent.tls.defaults, {
    ca_file: '/srv/lc/tls/ca.pem',
    cert_file: '/srv/lc/tls/consul.pem',
    key_file: '/srv/lc/tls/consul-key.pem',
    verify_outgoing: true,
  })
  assert.deepEqual(agent.tls.internal_rpc, { verify_incoming: true, verify_server_hostname: true })
  assert.deepEqual(agent.tls.https, { verify_incoming: false }, 'API callers need only the CA')
})

test('Nomad serves HTTPS and TLS RPC with the cloud CA, and reaches Consul over HTTPS', () => {
  const config = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })
  const hcl = renderNomadConfig(config)
  const block = (name: string) => new RegExp(`^${name} \\{\\n([\\s\\S]*?)^\\}`, 'm').exec(hcl)?.[1] ?? ''
  const tls = block('tls')
  for (const line of [
    /http\s+= true/,
    /rpc\s+= true/,
    /ca_file\s+= "\/srv\/lc\/tls\/ca\.pem"/,
    /cert_file\s+= "\/srv\/lc\/tls\/nomad\.pem"/,
    /key_file\s+= "\/srv\/lc\/tls\/nomad-key\.pem"/,
    /verify_server_hostname = true/,
    /verify_https_client\s+= false/,
  ])
    assert.match(tls, line)
  const consul = block('consul')
  assert.match(consul, /address\s+= "127\.0\.0\.1:8500"/)
  assert.match(consul, /ssl\s+= true/)
  assert.match(consul, /ca_file\s+= "\/srv\/lc\/tls\/ca\.pem"/)
})
