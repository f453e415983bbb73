// cluster:render for three real servers: each agent config (rendered by the
// local cloud's own functions) names its server's address, every peer and the
// services host; the units name the rendered files and hold no secret and
// pass systemd's own check; the certificates of one CA name each address;
// each server runs an S3 volume server with its own certificate of the S3 CA.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { access, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { consulConfigFor } from '../../../infra/cloud/agents/consul.ts'
import { nomadConfigFor } from '../../../infra/cloud/agents/nomad.ts'
import { postgresAgent } from '../../../infra/cloud/agents/postgres.ts'
import { s3SecurityToml } from '../../../infra/cloud/agents/s3-security.ts'
import { s3VolumeAgent } from '../../../infra/cloud/agents/s3-volume.ts'
import type { Credentials } from '../../../infra/cloud/credentials.ts'
import { parseInventory } from '../../../infra/servers/inventory.ts'
import { serverPaths } from '../../../infra/servers/paths.ts'
import { planServers } from '../../../infra/servers/plan.ts'
import { renderCluster } from '../../../infra/servers/render.ts'
import { execLine } from '../../../infra/servers/systemd.ts'
import { serverUnitFiles, serverUnits } from '../../../infra/servers/units.ts'
import { postgresArgs } from '../../../infra/cloud/agents/postgres.ts'
import { testCredentials } from './test-credentials.ts'

const run = promisify(execFile)
const PROBE = `${'ab'.repeat(32)}.json`
const ADDRESSES = ['192.0.2.11', '192.0.2.12', '192.0.2.13']

async function rendered(t: { after(fn: () => Promise<void>): void }, installDir = '/opt/lean-cloud') {
  const out = await mkdtemp(path.join(tmpdir(), 'lean-servers-'))
  t.after(() => rm(out, { recursive: true, force: true }))
  const inventory = parseInventory({
    servers: ADDRESSES.map((address, i) => ({ name: `n${i + 1}`, address, interface: i === 2 ? 'ens3' : 'eth0' })),
    services: 'n2',
    installDir,
  })
  const result = await renderCluster(inventory, out, { probeImage: PROBE })
  const credentials = JSON.parse(await readFile(path.join(out, 'credentials.json'), 'utf8')) as Credentials
  return { out, inventory, result, credentials }
}

const read = (...parts: string[]) => readFile(path.join(...parts), 'utf8')

test('each server gets the Consul and Nomad configs of the same renderers, naming its own address, every peer and the services host', async (t) => {
  const { out, inventory, result, credentials } = await rendered(t)
  assert.deepEqual((await readdir(out)).sort(), ['ca', 'credentials.json', 'n1', 'n2', 'n3'])
  assert.equal((await stat(path.join(out, 'credentials.json'))).mode & 0o777, 0o600)
  for (const [i, s] of result.plan.servers.entries()) {
    const me = ADDRESSES[i]!
    const others = ADDRESSES.filter((a) => a !== me)
    const consulText = await read(out, s.server.name, 'consul.json')
    assert.equal(consulText, consulConfigFor(s.config, credentials), 'consulConfigFor itself')
    const consul = JSON.parse(consulText) as Record<string, unknown>
    assert.equal(consul.node_name, s.server.name)
    assert.equal(consul.bind_addr, me)
    assert.equal(consul.advertise_addr, me)
    assert.equal(consul.bootstrap_expect, 3)
    assert.deepEqual(consul.retry_join, others.map((a) => `${a}:8301`))
    assert.equal(consul.data_dir, '/var/lib/lean-cloud/consul')
    assert.match(consulText, new RegExp(`"cert_file": "/var/lib/lean-cloud/tls/${s.server.name}/consul.pem"`))

    const hcl = await read(out, s.server.name, 'nomad.hcl')
    assert.equal(hcl, nomadConfigFor(s.config, credentials, `/opt/lean-cloud/cache/images/store/${PROBE}`, '/opt/lean-cloud/bin/wasm-host'), 'nomadConfigFor itself')
    assert.match(hcl, new RegExp(`^bind_addr\\s+= "${me}"$`, 'm'))
    assert.match(hcl, new RegExp(`^name\\s+= "${s.server.name}"$`, 'm'))
    assert.ok(hcl.includes(`servers           = ${JSON.stringify(ADDRESSES.map((a) => `${a}:4647`))}`), 'every server for the client')
    assert.ok(hcl.includes(`retry_join = ${JSON.stringify(others.map((a) => `${a}:4648`))}`), 'the other servers to join')
    assert.match(hcl, new RegExp(`network_interface = "${i === 2 ? 'ens3' : 'eth0'}"`))
    assert.match(hcl, /s3_endpoint\s+= "https:\/\/192\.0\.2\.12:9000"/, 'S3 on the services server')
    assert.match(hcl, /database_url\s+= "postgres:\/\/lean_writer:[^@]+@192\.0\.2\.12:15432\/lean_cloud\?sslmode=verify-full&sslrootcert=\/var\/lib\/lean-cloud\/tls\/ca\.pem"/)
    assert.match(hcl, /smtp_addr\s+= "192\.0\.2\.12:2525"/)
    assert.match(hcl, new RegExp(`address\\s+= "${me}:8500"`), 'its own Consul')
    assert.match(hcl, /libvirt_uri\s+= "qemu:\/\/\/system\?socket=\/var\/lib\/lean-cloud\/libvirt\/run\/libvirt-sock"/)
    assert.match(hcl, new RegExp(`probe_image\\s+= "/opt/lean-cloud/cache/images/store/${PROBE}"`))
    assert.doesNotMatch(hcl, /cpu_total_compute|memory_total_mb/, 'a real server offers what Nomad fingerprints')

    const env = await read(out, s.server.name, 'lean-cloud.env')
    assert.match(env, new RegExp(`^CONSUL_HTTP_ADDR=https://${me}:8500$`, 'm'))
    assert.match(env, /^S3_ENDPOINT=https:\/\/192\.0\.2\.12:9000$/m)
    const controller = await read(out, s.server.name, 'controller.env')
    assert.match(controller, new RegExp(`^LEAN_CONTROLLER_HTTP_ADDR=${me}:4680$`, 'm'))
    assert.match(controller, new RegExp(`^CONSUL_HTTP_TOKEN=${credentials.consulControllerToken}$`, 'm'))
    assert.ok(!controller.includes(credentials.consulManagementToken) && !controller.includes(credentials.nomadManagementToken), 'no management token for the controller')
    for (const file of ['consul.json', 'nomad.hcl', 'lean-cloud.env', 'controller.env'])
      assert.equal((await stat(path.join(out, s.server.name, file))).mode & 0o777, 0o600, file)
    assert.deepEqual(JSON.parse(await read(out, s.server.name, 'inventory.json')), JSON.parse(JSON.stringify(inventory)))
    const hasCredentials = await access(path.join(out, s.server.name, 'credentials.json')).then(() => true, () => false)
    assert.equal(hasCredentials, s.services, 'credentials.json only where the database and S3 are made')
  }
})

test("the certificates come from one CA and name each server's address; the CA's key stays in the render dir", async (t) => {
  const { out, result } = await rendered(t)
  const ca = new X509Certificate(await readFile(path.join(out, 'ca', 'tls', 'ca.pem')))
  const s3Ca = new X509Certificate(await readFile(path.join(out, 'ca', 'tls', 's3', 'ca.pem')))
  for (const [i, s] of result.plan.servers.entries()) {
    const dir = path.join(out, s.server.name, 'tls')
    assert.equal(new X509Certificate(await readFile(path.join(dir, 'ca.pem'))).fingerprint256, ca.fingerprint256)
    for (const [agent, name] of [['consul', 'server.dc1.consul'], ['nomad', 'server.global.nomad']] as const) {
      const cert = new X509Certificate(await readFile(path.join(dir, s.server.name, `${agent}.pem`)))
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${s.server.name}'s ${agent} certificate: signed by the CA`)
      assert.equal(cert.checkIP(ADDRESSES[i]!), ADDRESSES[i], `${s.server.name}'s ${agent} certificate names its address`)
      for (const other of ADDRESSES.filter((a) => a !== ADDRESSES[i])) assert.equal(cert.checkIP(other), undefined, `not ${other}`)
      assert.equal(cert.checkHost(name), name)
      assert.equal((await stat(path.join(dir, s.server.name, `${agent}-key.pem`))).mode & 0o777, 0o600)
    }
    const files = await readdir(dir, { recursive: true })
    assert.ok(!files.some((f) => f.endsWith('ca-key.pem')), `no CA key in ${s.server.name}'s folder`)
    for (const part of ['master', 'volume', 'filer'])
      assert.equal(files.includes(path.join('s3', `${part}.pem`)), s.services, `the S3 ${part}'s certificate only on the services server`)
    // Every server runs a volume server: the S3 CA's certificate, the client's, and its own naming its address.
    assert.equal(new X509Certificate(await readFile(path.join(dir, 's3', 'ca.pem'))).fingerprint256, s3Ca.fingerprint256)
    for (const file of ['s3/ca.pem', 's3/client.pem', 's3/client-key.pem', `s3/${s.server.name}/volume.pem`, `s3/${s.server.name}/volume-key.pem`])
      assert.equal((await stat(path.join(dir, file))).mode & 0o777, 0o600, `${s.server.name}: ${file}`)
    const volume = new X509Certificate(await readFile(path.join(dir, 's3', s.server.name, 'volume.pem')))
    assert.ok(volume.checkIssued(s3Ca) && volume.verify(s3Ca.publicKey), `${s.server.name}'s volume certificate: signed by the S3 CA`)
    assert.equal(volume.checkIP(ADDRESSES[i]!), ADDRESSES[i], `${s.server.name}'s volume certificate names its address`)
    assert.match(volume.subject, /CN=lean-s3-volume/, 'the name the other S3 parts allow on gRPC')
    for (const other of ADDRESSES.filter((a) => a !== ADDRESSES[i])) assert.equal(volume.checkIP(other), undefined, `not ${other}`)
    const client = new X509Certificate(await readFile(path.join(dir, 's3', 'client.pem')))
    assert.ok(client.checkIssued(s3Ca), `${s.server.name}'s S3 client certificate: signed by the S3 CA`)
  }
})

test("each server's S3 volume server gets its security settings, and every file they name is in its folder", async (t) => {
  const { out, result, credentials } = await rendered(t)
  const dataDir = result.plan.inventory.dataDir
  for (const s of result.plan.servers) {
    const folder = path.join(out, s.server.name)
    const security = await read(folder, 's3-volume-security.toml')
    assert.equal(security, s3SecurityToml(s.config, credentials), 's3SecurityToml itself, with the server\'s config')
    assert.equal((await stat(path.join(folder, 's3-volume-security.toml'))).mode & 0o777, 0o600)
    assert.ok(security.includes(`"${dataDir}/tls/s3/${s.server.name}/volume.pem"`), 'its own volume certificate')
    const named = [...security.matchAll(/"(\/[^"]+\.pem)"/g)].map((m) => m[1]!)
    assert.ok(named.length >= 4)
    for (const file of named) await access(path.join(folder, 'tls', path.relative(path.join(dataDir, 'tls'), file)))
  }
  // The services server's own S3 server (master, filer, gateway) finds its files too.
  const shared = s3SecurityToml(result.plan.shared, credentials)
  for (const [, file] of shared.matchAll(/"(\/[^"]+\.pem)"/g)) await access(path.join(out, 'n2', 'tls', path.relative(path.join(dataDir, 'tls'), file!)))
})

test('rendering again keeps the credentials and every certificate, and a server added gets its own', async (t) => {
  const { out, inventory, credentials } = await rendered(t)
  const before = await read(out, 'n1', 'tls', 'n1', 'consul.pem')
  const again = await renderCluster(inventory, out, { probeImage: PROBE })
  assert.deepEqual(again.tls, [], 'nothing made again')
  assert.equal(await read(out, 'credentials.json'), `${JSON.stringify(credentials, null, 2)}\n`)
  assert.equal(await read(out, 'n1', 'tls', 'n1', 'consul.pem'), before)
  const four = parseInventory({ ...JSON.parse(JSON.stringify(inventory)), servers: [...inventory.servers, { name: 'n4', address: '192.0.2.14', interface: 'eth0' }] })
  const grown = await renderCluster(four, out, { probeImage: PROBE })
  assert.deepEqual(grown.tls.map((r) => path.relative(out, r.file)).sort(), ['ca/tls/n4/consul.pem', 'ca/tls/n4/nomad.pem', 'ca/tls/s3/n4/volume.pem'])
  assert.deepEqual(JSON.parse(await read(out, 'n1', 'consul.json')).retry_join, ['192.0.2.12:8301', '192.0.2.13:8301', '192.0.2.14:8301'])
  assert.equal(await read(out, 'n1', 'tls', 'n1', 'consul.pem'), before)
})

test('the units name the rendered files, start Nomad after Consul, run Consul unprivileged, and hold no secret', async (t) => {
  const { out, result, credentials } = await rendered(t)
  const p = serverPaths(result.plan.inventory)
  const secrets = Object.values(credentials)
  for (const s of result.plan.servers) {
    const dir = path.join(out, s.server.name, 'systemd')
    assert.deepEqual((await readdir(dir)).sort(), serverUnitFiles(result.plan, s).sort())
    assert.deepEqual((await serverUnits(result.plan, s, credentials)).map((u) => u.file), serverUnitFiles(result.plan, s))
    const unit = (name: string) => read(dir, name)
    const consul = await unit('lean-consul.service')
    assert.match(consul, /^ExecStart=\/opt\/lean-cloud\/bin\/consul agent -config-file=\/etc\/lean-cloud\/consul\.json$/m)
    assert.match(consul, /^User=lean-consul$/m)
    assert.match(consul, /^ReadWritePaths=\/var\/lib\/lean-cloud\/consul$/m)
    const nomad = await unit('lean-nomad.service')
    assert.match(nomad, /^ExecStart=\/opt\/lean-cloud\/bin\/nomad agent -config=\/etc\/lean-cloud\/nomad\.hcl$/m)
    assert.match(nomad, /^After=.*lean-consul\.service/m)
    assert.doesNotMatch(nomad, /^User=/m, "Nomad's client runs as root")
    const controller = await unit('lean-controller.service')
    assert.match(controller, /^EnvironmentFile=\/etc\/lean-cloud\/controller\.env$/m)
    assert.match(controller, /^EnvironmentFile=\/etc\/lean-cloud\/controller-token\.env$/m)
    assert.match(controller, /^After=.*lean-nomad\.service/m)
    for (const name of serverUnitFiles(result.plan, s)) {
      const text = await unit(name)
      assert.match(text, /^Restart=on-failure$/m, name)
      for (const secret of secrets) assert.ok(!text.includes(secret), `${s.server.name}/${name} holds a secret`)
      // Every file a unit names under /etc/lean-cloud is in the rendered folder.
      for (const [, file] of text.matchAll(/\/etc\/lean-cloud\/([\w.-]+)/g))
        if (file !== 'controller-token.env') await access(path.join(out, s.server.name, file!))
    }
    const join = await read(out, s.server.name, 'JOIN.md')
    for (const secret of secrets) assert.ok(!join.includes(secret), 'JOIN.md holds a secret')
    assert.match(join, new RegExp(`npm run cluster:prepare -- --inventory ${p.inventory} --server ${s.server.name}`))
    assert.match(join, /S3 volume servers: 9011 \(HTTPS\) and 9021 \(gRPC\) on every\nserver, from every server; and S3's master on n2, 9020 \(gRPC\)/, 'the ports the volume servers need')
    const order = ['infra/prerequisites.sh', 'infra/build-binaries.sh', 'lean-consul.service', 'lean-s3-volume.service', 'lean-nomad.service', 'consul members', 'cluster:init', 'nomad server members', 'nomad node status', 'lean-controller.service']
    const at = order.map((step) => join.indexOf(step))
    assert.ok(at.every((n, i) => n >= 0 && (i === 0 || n > at[i - 1]!)), `JOIN.md's steps in order: ${at.join(', ')}`)
  }
  const services = await read(out, 'n2', 'systemd', 'lean-s3.service')
  assert.match(services, /-ip\.bind=192\.0\.2\.12 /)
  // The objects live on the servers: the services server's S3 keeps none and places each on two of them.
  assert.match(services, / -volume=false -master\.defaultReplication=001 /)
  assert.doesNotMatch(services, /-volume\.port=/)
  for (const [i, s] of result.plan.servers.entries()) {
    const volume = await read(out, s.server.name, 'systemd', 'lean-s3-volume.service')
    const spec = await s3VolumeAgent.spawnSpec({ config: s.config, credentials, binaries: { seaweedfs: '/opt/lean-cloud/bin/seaweedfs' }, progress: () => {} })
    assert.ok(volume.includes(`\nExecStart=${execLine(spec.command, spec.args)}\n`), "s3VolumeAgent's own command and arguments")
    assert.match(volume, new RegExp(`^ExecStart=/opt/lean-cloud/bin/seaweedfs volume -dir=/var/lib/lean-cloud/s3-volume -ip=${ADDRESSES[i]} -ip\\.bind=${ADDRESSES[i]} `, 'm'))
    assert.match(volume, / -master=192\.0\.2\.12:9010\.9020 /, 'the master on the services server')
    assert.match(volume, /^WorkingDirectory=\/var\/lib\/lean-cloud\/s3-volume$/m)
    assert.match(volume, /^After=network-online\.target$/m)
    // Confined as lean-s3: writes only its data dir, no capabilities.
    assert.deepEqual([...volume.matchAll(/^ReadWritePaths=(.*)$/gm)].map((m) => m[1]), ['/var/lib/lean-cloud/s3-volume'])
    assert.match(volume, /^ProtectSystem=strict$/m)
    assert.match(volume, /^CapabilityBoundingSet=$/m)
    assert.doesNotMatch(volume, /^User=/m)
  }
  assert.match(await read(out, 'n2', 'systemd', 'lean-postgres.service'), /^ExecStart=\/opt\/lean-cloud\/bin\/postgres -D \/var\/lib\/lean-cloud\/postgres -p 15432 -c listen_addresses=192\.0\.2\.12 -c unix_socket_directories= -c max_connections=200 -c ssl=on -c ssl_cert_file=\/var\/lib\/lean-cloud\/postgres\/server\.crt -c ssl_key_file=\/var\/lib\/lean-cloud\/postgres\/server\.key -c hba_file=\/var\/lib\/lean-cloud\/postgres\/pg_hba\.conf$/m)
})

test('a single server keeps the all-in-one S3 server: no volume server, no volume certificate', async (t) => {
  const out = await mkdtemp(path.join(tmpdir(), 'lean-servers-'))
  t.after(() => rm(out, { recursive: true, force: true }))
  const inventory = parseInventory({ servers: [{ name: 'n1', address: '192.0.2.11', interface: 'eth0' }], services: 'n1' })
  const result = await renderCluster(inventory, out, { probeImage: PROBE })
  assert.ok(!result.plan.shared.objectsOnNodes)
  const units = await readdir(path.join(out, 'n1', 'systemd'))
  assert.deepEqual(units.sort(), serverUnitFiles(result.plan, result.plan.servers[0]!).sort())
  assert.ok(!units.includes('lean-s3-volume.service'))
  const s3 = await read(out, 'n1', 'systemd', 'lean-s3.service')
  assert.match(s3, / -volume\.port=9011 -volume\.port\.grpc=9021 /, 'its own volume server')
  assert.doesNotMatch(s3, /-volume=false|defaultReplication/)
  const folder = await readdir(path.join(out, 'n1'), { recursive: true })
  assert.ok(!folder.includes('s3-volume-security.toml'))
  assert.ok(!folder.some((f) => f.startsWith(path.join('tls', 's3', 'n1'))), 'no volume certificate of its own')
  assert.ok(folder.includes(path.join('tls', 's3', 'volume.pem')), "the S3 server's own volume part")
  assert.doesNotMatch(await read(out, 'n1', 'JOIN.md'), /lean-s3-volume|volume servers/)
})

test("lean-postgres.service starts PostgreSQL with the local cloud's agent's arguments", async (t) => {
  const plan = planServers(parseInventory({ servers: [{ name: 'n1', address: '192.0.2.11', interface: 'eth0' }], services: 'n1' }))
  const installed = await access('/usr/lib/postgresql').then(() => true, () => false)
  if (!installed) return t.skip('PostgreSQL is not installed (infra/prerequisites.sh installs it)')
  const spec = await postgresAgent.spawnSpec({ config: plan.shared, credentials: testCredentials, binaries: {}, progress: () => {} })
  assert.deepEqual(spec.args, postgresArgs(plan.shared))
})

/** What systemd-analyze checks, for a machine without it: sections, key=value lines, absolute commands that exist. */
async function checkUnitSyntax(file: string): Promise<string[]> {
  const problems: string[] = []
  let section = ''
  for (const [n, line] of (await readFile(file, 'utf8')).split('\n').entries()) {
    if (line === '' || line.startsWith('#')) continue
    const header = /^\[(Unit|Service|Install)\]$/.exec(line)
    if (header) section = header[1]!
    else if (!section || !/^[A-Z][A-Za-z]+=/.test(line)) problems.push(`${file}:${n + 1}: ${line}`)
    else if (/^Exec\w+=/.test(line)) {
      const command = line.slice(line.indexOf('=') + 1).split(' ')[0]!
      if (!command.startsWith('/') || !(await access(command).then(() => true, () => false))) problems.push(`${file}:${n + 1}: ${command} is not an absolute path that exists`)
    }
  }
  return problems
}

test('systemd accepts every rendered unit', async (t) => {
  // The units name programs under installDir: stand-ins there, so that systemd's check finds them.
  const install = await mkdtemp(path.join(tmpdir(), 'lean-install-'))
  t.after(() => rm(install, { recursive: true, force: true }))
  await mkdir(path.join(install, 'bin'))
  for (const program of ['consul', 'nomad', 'seaweedfs', 'node', 'postgres']) {
    await writeFile(path.join(install, 'bin', program), '#!/bin/sh\n')
    await chmod(path.join(install, 'bin', program), 0o755)
  }
  const { out, result } = await rendered(t, install)
  const analyze = await access('/usr/bin/systemd-analyze').then(() => true, () => false)
  for (const s of result.plan.servers) {
    const dir = path.join(out, s.server.name, 'systemd')
    const files = serverUnitFiles(result.plan, s)
    assert.ok(files.includes('lean-s3-volume.service'), `${s.server.name} runs a volume server`)
    if (analyze) {
      // It exits 0 on a value it cannot parse (it ignores that line), so its output must be empty too.
      const { stdout, stderr } = await run('systemd-analyze', ['verify', ...files.map((f) => `./${f}`)], { cwd: dir })
      assert.equal(`${stdout}${stderr}`.trim(), '', `systemd-analyze verify ${s.server.name}`)
    }
    for (const f of files) assert.deepEqual(await checkUnitSyntax(path.join(dir, f)), [])
  }
})
