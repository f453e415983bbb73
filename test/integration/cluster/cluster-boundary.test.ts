// What a node of a real 3-node cluster on this machine (cloud:up -- --nodes 3)
// reaches on the host, attacked from inside a node's namespace: the shared
// services' ports on the gateway and the other nodes' agents, and nothing else
// of the host, not a listener on 0.0.0.0 through the gateway, not one on ::
// through the bridge's link-local address, not S3's internal ports, not the
// host's other addresses. Each closed one is first shown open from the host
// itself, so the test proves the firewall, not a wrong address. Then
// cloud:down must leave no firewall table behind.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type AddressInfo, type Server } from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { downCluster, existingCluster, upCluster, type Cluster } from '../../../infra/cloud/cluster.ts'
import { NODE_INTERFACE } from '../../../infra/cloud/cluster-network.ts'
import { tcpConnect } from '../../harness/netns-tcp.ts'

const run = promisify(execFile)
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const base = loadConfig({
  ...process.env,
  LEAN_CLOUD_DATA_DIR: path.join(repo, '.lean-cloud-test-cluster'),
  LEAN_CLOUD_CLUSTER_PREFIX: '',
})
const progress = (m: string) => process.stderr.write(`[cluster] ${m}\n`)

let cluster: Cluster
const servers: Server[] = []

/** A TCP listener of the test's on the host; its port is random. */
async function hostListener(host: string, ipv6Only = false): Promise<number> {
  const server = createServer((s) => s.on('error', () => {}).end('hi\n'))
  servers.push(server)
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen({ host, port: 0, ipv6Only }, resolve),
  )
  return (server.address() as AddressInfo).port
}

/** The bridge's IPv6 link-local address, or undefined when IPv6 is off on it. */
async function bridgeLinkLocal(): Promise<string | undefined> {
  const { stdout } = await run('ip', ['-6', '-o', 'addr', 'show', 'dev', cluster.net.bridge, 'scope', 'link'])
  return /inet6 (fe80::[0-9a-f:]+)\//.exec(stdout)?.[1]
}

/** An IPv4 address of the host's that is not on the cluster's bridge. */
async function otherHostAddress(): Promise<string | undefined> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global'])
  return stdout
    .split('\n')
    .filter((l) => l && !new RegExp(`^\\d+: ${cluster.net.bridge}\\s`).test(l))
    .map((l) => /inet (\d+\.\d+\.\d+\.\d+)\//.exec(l)?.[1])
    .find(Boolean)
}

async function firewallTables(): Promise<string[]> {
  return (await run('nft', ['list', 'tables'])).stdout.split('\n').filter(Boolean)
}

before(async () => {
  await upCluster(base, 3, progress)
  cluster = (await existingCluster(base))!
})

after(async () => {
  for (const s of servers) s.close()
  const made = await existingCluster(base)
  if (made) await downCluster(base, made, progress)
})

test("a node reaches the shared services on the gateway and the other nodes' Consul and Nomad", async () => {
  assert.ok(
    (await firewallTables()).includes(`table inet ${cluster.net.firewallTable}`),
    'cloud:up installed the firewall',
  )
  const { s3, postgres, smtp } = cluster.shared
  const name = (n: (typeof cluster.nodes)[number]) => n.node!.name
  const from = cluster.nodes[1]!
  const results = await Promise.all([
    // S3's master gRPC too: the nodes' volume servers send it their heartbeats.
    ...[s3.port, postgres.port, smtp.port, s3.masterGrpcPort].map(async (port) => [
      `n2 → gateway:${port}`,
      await tcpConnect(from.node!.netnsPath, cluster.net.gateway, port, 5000),
    ]),
    ...cluster.nodes.flatMap((peer) => {
      const other = cluster.nodes.find((n) => n !== peer)!
      const ports = [peer.consul.httpPort, peer.consul.serverPort, peer.nomad.httpPort, peer.nomad.rpcPort]
      return ports.map(async (port) => [
        `${name(other)} → ${name(peer)}:${port}`,
        await tcpConnect(other.node!.netnsPath, peer.host, port, 5000),
      ])
    }),
  ])
  for (const [what, result] of results) assert.equal(result, 'connected', what)
})

test('a node reaches no other service of the host: not on 0.0.0.0 through the gateway, not S3 inside, not on :: through the link-local address', async () => {
  const node = cluster.nodes[1]!.node!.netnsPath
  const anyV4 = await hostListener('0.0.0.0')
  // S3's filer and gateway listen on the gateway too; only the S3 API and the master's gRPC are for the nodes.
  const targets: Array<{ what: string; fromHost: string; fromNode: string; port: number }> = [
    {
      what: 'a listener on 0.0.0.0, at the gateway',
      fromHost: cluster.net.gateway,
      fromNode: cluster.net.gateway,
      port: anyV4,
    },
    {
      what: "S3's filer (gRPC)",
      fromHost: cluster.net.gateway,
      fromNode: cluster.net.gateway,
      port: cluster.shared.s3.filerGrpcPort,
    },
    {
      what: "S3's gateway (gRPC)",
      fromHost: cluster.net.gateway,
      fromNode: cluster.net.gateway,
      port: cluster.shared.s3.s3GrpcPort,
    },
  ]
  const linkLocal = await bridgeLinkLocal()
  if (linkLocal) {
    const anyV6 = await hostListener('::', true)
    targets.push({
      what: "a listener on ::, at the bridge's link-local address",
      fromHost: `${linkLocal}%${cluster.net.bridge}`,
      fromNode: `${linkLocal}%${NODE_INTERFACE}`,
      port: anyV6,
    })
  } else {
    // No IPv6 on the bridge, so no way in over it.
    assert.equal(
      (await run('cat', [`/proc/sys/net/ipv6/conf/${cluster.net.bridge}/disable_ipv6`])).stdout.trim(),
      '1',
    )
  }
  for (const t of targets) {
    assert.equal(
      await tcpConnect(undefined, t.fromHost, t.port),
      'connected',
      `${t.what} (${t.fromHost}:${t.port}) is open from the host itself`,
    )
    const got = await tcpConnect(node, t.fromNode, t.port)
    assert.notEqual(got, 'connected', `${t.what} (${t.fromNode}:${t.port}) is closed to n2`)
    progress(`n2 → ${t.what}: ${got}`)
  }
})

test("a node that routes through the gateway reaches none of the host's other addresses", async () => {
  const node = cluster.nodes[0]!.node!.netnsPath
  const address = await otherHostAddress()
  assert.ok(address, 'the host has an address off the bridge')
  const port = await hostListener('0.0.0.0')
  assert.equal(
    await tcpConnect(undefined, address, port),
    'connected',
    `${address}:${port} is open from the host itself`,
  )
  // Root in the node could add such a route; the firewall must not depend on it missing.
  await run('ip', [
    '-n',
    cluster.net.nodes[0]!.netns,
    'route',
    'add',
    `${address}/32`,
    'via',
    cluster.net.gateway,
  ])
  try {
    assert.notEqual(await tcpConnect(node, address, port), 'connected', `${address}:${port} is closed to n1`)
    assert.notEqual(
      await tcpConnect(node, address, cluster.shared.s3.port),
      'connected',
      `S3 only at the gateway, not at ${address}`,
    )
  } finally {
    await run('ip', ['-n', cluster.net.nodes[0]!.netns, 'route', 'del', `${address}/32`])
  }
})

test('cloud:up again keeps one firewall; cloud:down removes it with the bridge and the namespaces', async () => {
  await upCluster(base, 3, () => {})
  const table = `table inet ${cluster.net.firewallTable}`
  assert.equal((await firewallTables()).filter((t) => t === table).length, 1)
  await downCluster(base, cluster, progress)
  assert.ok(!(await firewallTables()).includes(table), `${table} is gone`)
  const { stdout: links } = await run('ip', ['-o', 'link', 'show'])
  assert.ok(!links.includes(cluster.net.bridge), `bridge ${cluster.net.bridge} is gone`)
  const { stdout: namespaces } = await run('ip', ['netns', 'list'])
  for (const node of cluster.net.nodes)
    assert.ok(!namespaces.includes(node.netns), `namespace ${node.netns} is gone`)
})
