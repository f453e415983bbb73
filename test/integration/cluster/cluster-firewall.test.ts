// A cluster's host firewall (infra/cloud/cluster-firewall.ts), applied by its
// own apply and remove to a stand-in host: a network namespace with the
// cluster's bridge and two nodes, plus an "outside" namespace on another
// interface. In there, unlike on this machine, ip_forward can be on and
// br_netfilter's bridge-nf-call-iptables (and -ip6tables) set either way (both are per
// namespace) without touching anything else. First without the firewall
// (the stand-in forwards and serves everything), then with it, for both
// br_netfilter settings: nodes reach each other and the allowed port on the
// gateway, nothing else on the host, nothing outside, and the outside no node.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { after, before, test } from 'node:test'
import {
  applyClusterFirewall,
  removeClusterFirewall,
  type Nft,
} from '../../../infra/cloud/cluster-firewall.ts'
import { NODE_INTERFACE, planClusterNet } from '../../../infra/cloud/cluster-network.ts'
import { listenIn, tcpConnect } from '../../harness/netns-tcp.ts'

const run = promisify(execFile)
const tag = randomBytes(3).toString('hex')
const net = planClusterNet(tag, '10.213.250', 2)
const [n1, n2] = net.nodes as [(typeof net.nodes)[0], (typeof net.nodes)[0]]
const host = { netns: `lean-${tag}-host`, path: `/run/netns/lean-${tag}-host` }
const outside = {
  netns: `lean-${tag}-out`,
  path: `/run/netns/lean-${tag}-out`,
  address: '10.213.251.2',
  hostAddress: '10.213.251.1',
}
const OPEN_PORT = 7002 // the one port the firewall lets nodes open on the gateway
const CLOSED_PORT = 7001 // another service of the stand-in host, on 0.0.0.0
const NODE_PORT = 7003
const OUTSIDE_PORT = 7000
const progress = (m: string) => process.stderr.write(`[firewall] ${m}\n`)
const listeners: Array<{ close(): void }> = []

const ip = (...args: string[]) => run('ip', args)
const inHost = (...args: string[]) => run('nsenter', [`--net=${host.path}`, ...args])
/** nft inside the stand-in host. */
const hostNft: Nft = (args, script) =>
  new Promise((resolve, reject) => {
    const child = execFile('nsenter', [`--net=${host.path}`, 'nft', ...args], (err, stdout, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(stdout),
    )
    child.stdin!.on('error', () => {})
    child.stdin!.end(script ?? '')
  })

async function setBridgeNetfilter(on: boolean): Promise<void> {
  for (const family of ['iptables', 'ip6tables']) {
    const file = `/proc/sys/net/bridge/bridge-nf-call-${family}`
    await inHost('sh', '-c', `echo ${on ? 1 : 0} > ${file}`)
    assert.equal((await inHost('cat', file)).stdout.trim(), on ? '1' : '0')
  }
}

/** What each kind of connection gets, from n1, the outside and back (all at once: the closed ones wait out their timeout). */
async function reachability(): Promise<Record<string, string>> {
  const probes = {
    nodeToNode: tcpConnect(n1.netnsPath, n2.address, NODE_PORT),
    nodeToOpenPort: tcpConnect(n1.netnsPath, net.gateway, OPEN_PORT),
    nodeToClosedPort: tcpConnect(n1.netnsPath, net.gateway, CLOSED_PORT),
    nodeToHostsOtherAddress: tcpConnect(n1.netnsPath, outside.hostAddress, OPEN_PORT),
    nodeToOutside: tcpConnect(n1.netnsPath, outside.address, OUTSIDE_PORT),
    outsideToNode: tcpConnect(outside.path, n2.address, NODE_PORT),
  }
  return Object.fromEntries(
    await Promise.all(Object.entries(probes).map(async ([what, result]) => [what, await result])),
  )
}

/** Packets the forward chain let through from the bridge to the bridge (node to node) since the table was made. */
async function bridgedPackets(): Promise<number> {
  const chain = await hostNft(['list', 'chain', 'inet', net.firewallTable, 'forward'])
  const line = chain.split('\n').find((l) => l.includes(`iifname "${net.bridge}" oifname "${net.bridge}"`))
  return Number(/counter packets (\d+)/.exec(line ?? '')?.[1] ?? Number.NaN)
}

before(async () => {
  for (const ns of [host.netns, outside.netns, n1.netns, n2.netns]) await ip('netns', 'add', ns)
  await ip('-n', host.netns, 'link', 'set', 'lo', 'up')
  await ip('-n', host.netns, 'link', 'add', net.bridge, 'type', 'bridge')
  await ip('-n', host.netns, 'addr', 'add', `${net.gateway}/24`, 'dev', net.bridge)
  await ip('-n', host.netns, 'link', 'set', net.bridge, 'up')
  for (const node of [n1, n2]) {
    await ip(
      '-n',
      host.netns,
      'link',
      'add',
      node.hostVeth,
      'type',
      'veth',
      'peer',
      'name',
      NODE_INTERFACE,
      'netns',
      node.netns,
    )
    await ip('-n', host.netns, 'link', 'set', node.hostVeth, 'master', net.bridge, 'up')
    await ip('-n', node.netns, 'addr', 'add', `${node.address}/24`, 'dev', NODE_INTERFACE)
    await ip('-n', node.netns, 'link', 'set', NODE_INTERFACE, 'up')
    // A node that routes everything through the host: the worst case.
    await ip('-n', node.netns, 'route', 'add', 'default', 'via', net.gateway)
  }
  await ip(
    '-n',
    host.netns,
    'link',
    'add',
    'out0',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    outside.netns,
  )
  await ip('-n', host.netns, 'addr', 'add', `${outside.hostAddress}/24`, 'dev', 'out0')
  await ip('-n', host.netns, 'link', 'set', 'out0', 'up')
  await ip('-n', outside.netns, 'addr', 'add', `${outside.address}/24`, 'dev', 'eth0')
  await ip('-n', outside.netns, 'link', 'set', 'eth0', 'up')
  await ip('-n', outside.netns, 'route', 'add', `${net.prefix}.0/24`, 'via', outside.hostAddress)
  await inHost('sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward')
  listeners.push(
    await listenIn(host.path, '0.0.0.0', OPEN_PORT),
    await listenIn(host.path, '0.0.0.0', CLOSED_PORT),
    await listenIn(n2.netnsPath, '0.0.0.0', NODE_PORT),
    await listenIn(outside.path, '0.0.0.0', OUTSIDE_PORT),
  )
})

after(async () => {
  for (const l of listeners) l.close()
  for (const ns of [host.netns, outside.netns, n1.netns, n2.netns])
    await ip('netns', 'del', ns).catch(() => undefined)
})

test('without the firewall the stand-in host serves a node on every port and address and forwards to and from the outside', async () => {
  assert.deepEqual(await reachability(), {
    nodeToNode: 'connected',
    nodeToOpenPort: 'connected',
    nodeToClosedPort: 'connected',
    nodeToHostsOtherAddress: 'connected',
    nodeToOutside: 'connected',
    outsideToNode: 'connected',
  })
})

for (const bridgeNetfilter of [true, false]) {
  test(`with the firewall, bridge-nf-call-iptables ${bridgeNetfilter ? 'on' : 'off'}: node to node and the open port only`, async () => {
    await setBridgeNetfilter(bridgeNetfilter)
    // Twice: applying again renews the one table.
    await applyClusterFirewall(net, [OPEN_PORT], progress, hostNft)
    await applyClusterFirewall(net, [OPEN_PORT], progress, hostNft)
    assert.equal((await hostNft(['list', 'tables'])).trim(), `table inet ${net.firewallTable}`)
    // Counted from here: with br_netfilter on, the nodes' own IPv6 neighbour and router
    // messages may already have crossed (a CI run saw 1 packet before any test traffic).
    const before = await bridgedPackets()
    assert.ok(Number.isInteger(before), `the forward chain counts bridged packets (${before})`)
    assert.deepEqual(await reachability(), {
      nodeToNode: 'connected',
      nodeToOpenPort: 'connected',
      nodeToClosedPort: 'timeout',
      nodeToHostsOtherAddress: 'timeout',
      nodeToOutside: 'timeout',
      outsideToNode: 'timeout',
    })
    // Node to node passes the host's IP hooks only with br_netfilter on; the table lets it through either way.
    const bridged = (await bridgedPackets()) - before
    assert.ok(
      bridgeNetfilter ? bridged > 0 : bridged === 0,
      `${bridged} node-to-node packets seen by the forward chain during the test traffic`,
    )
  })
}

test('removing the firewall leaves no table and opens the stand-in host again', async () => {
  await removeClusterFirewall(net, progress, hostNft)
  await removeClusterFirewall(net, progress, hostNft)
  assert.equal((await hostNft(['list', 'ruleset'])).trim(), '')
  assert.equal(await tcpConnect(n1.netnsPath, net.gateway, CLOSED_PORT), 'connected')
})
