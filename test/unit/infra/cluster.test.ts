import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { consulConfigFor } from '../../../infra/cloud/agents/consul.ts'
import { renderNomadConfig, renderVirtPluginBlock, renderWasmPluginBlock } from '../../../infra/cloud/agents/nomad.ts'
import { planClusterNet } from '../../../infra/cloud/cluster-network.ts'
import { clusterPrefix, clusterUnits, planCluster } from '../../../infra/cloud/cluster.ts'
import { layout, loadConfig, type CloudConfig } from '../../../infra/cloud/config.ts'
import { s3Agent } from '../../../infra/cloud/agents/s3.ts'
import { s3VolumeAgent } from '../../../infra/cloud/agents/s3-volume.ts'
import { s3JwtKey, s3SecurityToml } from '../../../infra/cloud/agents/s3-security.ts'
import { cloudEnv } from '../../../infra/cloud/credentials.ts'
import { ensureTls } from '../../../infra/cloud/tls.ts'
import { haproxyTemplate, renderIngressJob } from '../../../jobs/ingress.ts'
import { testCredentials } from './test-credentials.ts'

const base = loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' })

test('a cluster plan gives each node a name, an address on the /24 and a namespace, the host the gateway', () => {
  const net = planClusterNet('abcdef1234', '10.213.7', 3)
  assert.equal(net.gateway, '10.213.7.1')
  assert.deepEqual(
    net.nodes.map((n) => [n.name, n.address, n.netnsPath]),
    [
      ['n1', '10.213.7.11', '/run/netns/lean-abcdef-n1'],
      ['n2', '10.213.7.12', '/run/netns/lean-abcdef-n2'],
      ['n3', '10.213.7.13', '/run/netns/lean-abcdef-n3'],
    ],
  )
  // Linux interface names hold at most 15 characters.
  for (const name of [net.bridge, ...net.nodes.map((n) => n.hostVeth)]) assert.ok(name.length <= 15, name)
  for (const count of [0, 8, 1.5]) assert.throws(() => planClusterNet('abcdef', '10.213.7', count), { code: 'LEAN_ERR_CLOUD_NODES' })
})

test('the cluster range is derived from the data dir, or a private /24 the operator names', () => {
  assert.match(clusterPrefix(base, {}), /^10\.213\.\d{1,3}$/)
  assert.notEqual(clusterPrefix(base, {}), clusterPrefix(loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/other' }), {}))
  assert.equal(clusterPrefix(base, { LEAN_CLOUD_CLUSTER_PREFIX: '192.168.44' }), '192.168.44')
  for (const bad of ['8.8.8', '10.1', '10.1.2.3', '172.32.0', '10.300.1'])
    assert.throws(() => clusterPrefix(base, { LEAN_CLOUD_CLUSTER_PREFIX: bad }), { code: 'LEAN_ERR_CLOUD_CONFIG' }, bad)
})

test("each node's Consul is a server that joins the others and advertises its own address", () => {
  const cluster = planCluster(base, 3, '10.213.7')
  for (const node of cluster.nodes) {
    const agent = JSON.parse(consulConfigFor(node, testCredentials)) as Record<string, unknown>
    assert.equal(agent.node_name, node.node!.name)
    assert.equal(agent.bootstrap_expect, 3)
    assert.equal(agent.bind_addr, node.host)
    assert.equal(agent.advertise_addr, node.host)
    assert.deepEqual(
      agent.retry_join,
      cluster.nodes.filter((n) => n !== node).map((n) => `${n.host}:8301`),
    )
    assert.equal(agent.data_dir, `/srv/lc/nodes/${node.node!.name}/consul`)
    assert.equal((agent.tls as { defaults: { cert_file: string } }).defaults.cert_file, `/srv/lc/tls/${node.node!.name}/consul.pem`)
  }
  const single = JSON.parse(consulConfigFor(base, testCredentials)) as Record<string, unknown>
  assert.equal(single.bootstrap_expect, 1)
  assert.equal(single.retry_join, undefined)
})

test("each node's Nomad joins the servers, takes addresses from its own interface, and offers its share of the machine's memory", () => {
  const cluster = planCluster(base, 3, '10.213.7')
  const n2 = cluster.nodes[1]!
  const hcl = renderNomadConfig(n2, renderWasmPluginBlock(n2, testCredentials))
  assert.match(hcl, /^name\s+= "n2"$/m)
  assert.match(hcl, /bootstrap_expect = 3/)
  assert.match(hcl, /retry_join = \["10\.213\.7\.11:4648","10\.213\.7\.13:4648"\]/)
  assert.match(hcl, /servers\s+= \["10\.213\.7\.11:4647","10\.213\.7\.12:4647","10\.213\.7\.13:4647"\]/)
  assert.match(hcl, /network_interface = "lean0"/)
  assert.match(hcl, /heartbeat_grace\s+= "3s"/)
  assert.match(hcl, /default_scheduler_config \{\s+scheduler_algorithm = "spread"\s+\}/, 'separate jobs (VMs) go to the least used node')
  assert.match(hcl, /cgroup_parent\s+= "lean-cloud-[0-9a-f]+-n2"/)
  assert.match(hcl, /memory_total_mb\s+= \d+/)
  assert.doesNotMatch(hcl, /cpu_total_compute/, 'CPU is a weight: each node offers all of it')
  // The shared services are the gateway's; Consul's DNS is the node's own.
  assert.match(hcl, /s3_endpoint\s+= "https:\/\/10\.213\.7\.1:9000"/)
  assert.match(hcl, /database_url\s+= "postgres:\/\/lean_writer:writer-pw@10\.213\.7\.1:15432\//)
  assert.match(hcl, /consul_dns_addr = "10\.213\.7\.12:8600"/)
  assert.match(hcl, /smtp_addr\s+= "10\.213\.7\.1:2525"/)
  const single = renderNomadConfig(base)
  assert.match(single, /bootstrap_expect = 1/)
  assert.match(single, /network_interface = "lo"/)
  assert.doesNotMatch(single, /server_join|heartbeat_grace|memory_total_mb|scheduler_algorithm/)
})

test("a cluster's environment points at the first node's agents and the gateway's services", () => {
  const cluster = planCluster(base, 3, '10.213.7')
  const env = cloudEnv(cluster.nodes[0]!, testCredentials)
  assert.equal(env.CONSUL_HTTP_ADDR, 'https://10.213.7.11:8500')
  assert.equal(env.NOMAD_ADDR, 'https://10.213.7.11:4646')
  assert.equal(env.S3_ENDPOINT, "https://10.213.7.1:9000")
  assert.equal(env.SMTP_ADDR, '10.213.7.1:2525')
  assert.equal(env.LEAN_CLOUD_DATA_DIR, '/srv/lc')
  assert.equal(layout(cluster.nodes[0]!).credentials, '/srv/lc/credentials.json', 'one set of credentials for the cluster')
  assert.equal(layout(cluster.nodes[0]!).nomadData, '/srv/lc/nodes/n1/nomad/data')
})

test("each node's certificates name its address and are signed by the one CA", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-cluster-tls-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const cluster = planCluster(loadConfig({ LEAN_CLOUD_DATA_DIR: dir }), 2, '10.213.9')
  await ensureTls(cluster.shared)
  for (const node of cluster.nodes) await ensureTls(node)
  const ca = new X509Certificate(await readFile(path.join(dir, 'tls', 'ca.pem')))
  for (const node of cluster.nodes) {
    for (const file of ['consul.pem', 'nomad.pem']) {
      const cert = new X509Certificate(await readFile(path.join(dir, 'tls', node.node!.name, file)))
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${node.node!.name}/${file} is signed by the cluster's CA`)
      assert.match(cert.subjectAltName ?? '', new RegExp(`IP Address:${node.host.replace(/\./g, '\\.')}`))
    }
  }
  const s3Ca = new X509Certificate(await readFile(path.join(dir, 'tls', 's3', 'ca.pem')))
  for (const node of cluster.nodes) {
    const cert = new X509Certificate(
      await readFile(path.join(dir, 'tls', 's3', node.node!.name, 'volume.pem')),
    )
    assert.ok(cert.checkIssued(s3Ca), `${node.node!.name}'s volume server certificate is of the S3 CA`)
    assert.match(cert.subject, /CN=lean-s3-volume/, 'the name the other S3 parts allow on gRPC')
    assert.match(cert.subjectAltName ?? '', new RegExp(`IP Address:${node.host.replace(/\./g, '\\.')}`))
  }
  assert.deepEqual(await ensureTls(cluster.nodes[0]!), [], 'a second run keeps every certificate')
})

test('each node runs its own libvirtd, so QEMU runs in the node\'s namespace; the host runs none', () => {
  const cluster = planCluster(base, 3, '10.213.7')
  const units = clusterUnits(cluster).map((u) => `${u.agent.name}@${u.config.node?.name ?? 'host'}`)
  for (const n of ['n1', 'n2', 'n3']) assert.ok(units.includes(`libvirt@${n}`), `libvirt on ${n}`)
  assert.ok(!units.includes('libvirt@host'))
  const block = renderVirtPluginBlock(cluster.nodes[1]!, testCredentials, '/probe.qcow2')
  assert.match(block, /libvirt_uri\s+= "qemu:\/\/\/system\?socket=\/srv\/lc\/nodes\/n2\/libvirt\/run\/libvirt-sock"/)
})

test("a cluster's objects live on the nodes: a volume server on each, two copies of each object, none on the host", async () => {
  const cluster = planCluster(base, 3, '10.213.7')
  const units = clusterUnits(cluster).map((u) => `${u.agent.name}@${u.config.node?.name ?? 'host'}`)
  for (const n of ['n1', 'n2', 'n3']) assert.ok(units.includes(`s3-volume@${n}`), `a volume server on ${n}`)
  assert.ok(units.includes('s3@host') && !units.some((u) => u.startsWith('s3-volume@host')))
  const binaries = { seaweedfs: '/bin/weed' }
  const ctx = (config: CloudConfig) => ({
    config,
    credentials: testCredentials,
    binaries,
    progress: () => {},
  })
  const server = (await s3Agent.spawnSpec(ctx(cluster.shared))).args
  assert.ok(
    server.includes('-volume=false') && server.includes('-master.defaultReplication=001'),
    server.join(' '),
  )
  assert.ok(!server.some((a) => a.startsWith('-volume.port')))
  const single = (await s3Agent.spawnSpec(ctx(base))).args
  assert.ok(
    !single.includes('-volume=false') && single.some((a) => a.startsWith('-volume.port=')),
    'the single cloud keeps its own volume server',
  )

  const n2 = cluster.nodes[1]!
  const volume = (await s3VolumeAgent.spawnSpec(ctx(n2))).args
  assert.deepEqual(volume.slice(0, 1), ['volume'])
  for (const arg of [
    '-ip=10.213.7.12',
    '-ip.bind=10.213.7.12',
    `-master=10.213.7.1:${base.s3.masterPort}.${base.s3.masterGrpcPort}`,
    '-dir=/srv/lc/nodes/n2/s3-volume',
  ])
    assert.ok(volume.includes(arg), `${arg} in ${volume.join(' ')}`)

  // The node's security.toml: its own volume certificate, the shared client one; nothing of the master's or filer's.
  const toml = s3SecurityToml(n2, testCredentials)
  assert.match(toml, /\[grpc\.volume\]\ncert = "\/srv\/lc\/tls\/s3\/n2\/volume\.pem"/)
  assert.match(toml, /\[https\.volume\]\ncert = "\/srv\/lc\/tls\/s3\/n2\/volume\.pem"/)
  assert.match(toml, /\[grpc\.client\]\ncert = "\/srv\/lc\/tls\/s3\/client\.pem"/)
  for (const section of ['grpc.master', 'grpc.filer', 'grpc.s3', 'https.master', 'jwt.filer_signing'])
    assert.ok(!toml.includes(`[${section}]`), section)
  assert.ok(
    toml.includes(`key = "${s3JwtKey(testCredentials, 'volume-write')}"`),
    "the master's write key, to check its JWTs",
  )
})

test("a cluster's ingress asks the Consul agent on its own node's address", () => {
  assert.match(haproxyTemplate({ port: 8600 }), /nameserver consul \{\{ env "NOMAD_IP_http" \}\}:8600/)
  assert.match(haproxyTemplate('127.0.0.1:8600'), /nameserver consul 127\.0\.0\.1:8600/)
  assert.throws(() => renderIngressJob({ port: 8088, consulDns: { port: 0 }, namespace: 'lean-system' }), /ingress\.consulDns/)
})
