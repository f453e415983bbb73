import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  applyClusterFirewall,
  removeClusterFirewall,
  renderClusterFirewall,
  renderClusterFirewallRemoval,
  type Nft,
} from '../../../infra/cloud/cluster-firewall.ts'
import { planClusterNet } from '../../../infra/cloud/cluster-network.ts'
import { hostPortsForNodes, planCluster } from '../../../infra/cloud/cluster.ts'
import { loadConfig } from '../../../infra/cloud/config.ts'

const net = planClusterNet('abcdef1234', '10.213.7', 3)
const lines = (script: string) => script.split('\n').map((l) => l.trim())

/** The body of one chain of a rendered script, its lines trimmed. */
function chain(script: string, name: string): string[] {
  const all = lines(script)
  const start = all.indexOf(`chain ${name} {`)
  assert.ok(start >= 0, `chain ${name} is rendered`)
  return all.slice(start + 1, all.indexOf('}', start))
}

test("the cluster's firewall is one inet table named after its tag, replaced in one transaction", () => {
  const script = renderClusterFirewall(net, [9000])
  assert.equal(net.firewallTable, 'lean_abcdef')
  // Made if missing, deleted, made again: applying twice is the same as once.
  assert.deepEqual(lines(script).slice(0, 3), [
    'table inet lean_abcdef',
    'delete table inet lean_abcdef',
    'table inet lean_abcdef {',
  ])
  assert.deepEqual(lines(renderClusterFirewallRemoval(net)), [
    'table inet lean_abcdef',
    'delete table inet lean_abcdef',
    '',
  ])
  // Nothing outside its own table.
  assert.deepEqual(
    lines(script).filter((l) => l.startsWith('table ') || l.startsWith('delete ') || l.startsWith('flush ')),
    ['table inet lean_abcdef', 'delete table inet lean_abcdef', 'table inet lean_abcdef {'],
  )
})

test('into the host from the bridge: replies, ICMP and the given TCP ports on the gateway; the rest is dropped', () => {
  const script = renderClusterFirewall(net, [15432, 9000, 2525, 9000])
  const input = chain(script, 'input')
  assert.deepEqual(input, [
    'type filter hook input priority filter; policy accept;',
    'iifname "lnbabcdef" jump from_nodes',
  ])
  assert.deepEqual(chain(script, 'from_nodes'), [
    'ct state established,related accept',
    'meta l4proto { icmp, ipv6-icmp } accept',
    'ip daddr 10.213.7.1 tcp dport { 2525, 9000, 15432 } accept',
    'counter drop',
  ])
})

test('nothing is forwarded between the bridge and another interface; node to node is', () => {
  assert.deepEqual(chain(renderClusterFirewall(net, [9000]), 'forward'), [
    'type filter hook forward priority filter; policy accept;',
    'iifname "lnbabcdef" oifname "lnbabcdef" counter accept',
    'iifname "lnbabcdef" counter drop',
    'oifname "lnbabcdef" counter drop',
  ])
})

test('a port list that is empty or holds no TCP port is refused', () => {
  for (const ports of [[], [0], [65536], [80.5], [Number.NaN]])
    assert.throws(
      () => renderClusterFirewall(net, ports),
      { code: 'LEAN_ERR_CLOUD_NETWORK' },
      JSON.stringify(ports),
    )
})

test("the nodes may open the shared services' ports (S3, PostgreSQL, SMTP) and S3's master gRPC for their volume servers", () => {
  const cluster = planCluster(loadConfig({ LEAN_CLOUD_DATA_DIR: '/srv/lc' }), 3, '10.213.7')
  const { s3, postgres, smtp } = cluster.shared
  assert.deepEqual(hostPortsForNodes(cluster.shared), [s3.port, postgres.port, smtp.port, s3.masterGrpcPort])
  // Not S3's other internal ports: the master's HTTP, the filer's, the gateway's gRPC.
  for (const internal of [s3.masterPort, s3.volumePort, s3.filerPort, s3.volumeGrpcPort, s3.filerGrpcPort, s3.s3GrpcPort])
    assert.ok(!hostPortsForNodes(cluster.shared).includes(internal))
})

/** nft as a stub that keeps the inet tables it was told to make, or fails every call with `fail`. */
function fakeNft(tables: Set<string>, fail?: Error): { nft: Nft; calls: string[][] } {
  const calls: string[][] = []
  const nft: Nft = async (args, script) => {
    calls.push([...args])
    if (fail) throw fail
    if (args.join(' ') === 'list tables inet') return [...tables].map((t) => `table inet ${t}\n`).join('')
    assert.deepEqual(args, ['-f', '-'])
    const made = /^table inet (\S+) \{$/m.exec(script ?? '')
    const name = /^delete table inet (\S+)$/m.exec(script ?? '')![1]!
    tables.delete(name)
    if (made) tables.add(made[1]!)
    return ''
  }
  return { nft, calls }
}

test('applying installs the table through nft -f, again only renews it; removing deletes it once', async () => {
  const tables = new Set(['other'])
  const { nft, calls } = fakeNft(tables)
  const said: string[] = []
  await applyClusterFirewall(net, [9000], (m) => said.push(m), nft)
  await applyClusterFirewall(net, [9000], (m) => said.push(m), nft)
  assert.deepEqual([...tables].sort(), ['lean_abcdef', 'other'])
  assert.equal(calls.filter((c) => c[0] === '-f').length, 2)
  assert.equal(said.length, 1, `reported once: ${said.join(' | ')}`)
  assert.match(said[0]!, /lean_abcdef.*9000.*10\.213\.7\.1/)

  await removeClusterFirewall(net, (m) => said.push(m), nft)
  await removeClusterFirewall(net, (m) => said.push(m), nft)
  assert.deepEqual([...tables], ['other'], "the machine's other tables stay")
  assert.equal(calls.filter((c) => c[0] === '-f').length, 3, 'the second removal finds nothing to delete')
  assert.match(said.at(-1)!, /removed firewall inet lean_abcdef/)
})

test('a firewall nft refuses, or no nft at all, fails cloud:up with LEAN_ERR_CLOUD_NETWORK', async () => {
  const refused = fakeNft(new Set(), new Error('Error: Could not process rule: Operation not permitted'))
  await assert.rejects(
    applyClusterFirewall(net, [9000], () => {}, refused.nft),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'LEAN_ERR_CLOUD_NETWORK')
      assert.match(err.message, /inet lean_abcdef.*Operation not permitted/)
      return true
    },
  )
  const missing = fakeNft(
    new Set(),
    Object.assign(new Error('the nft command is missing'), { code: 'ENOENT' }),
  )
  await assert.rejects(
    applyClusterFirewall(net, [9000], () => {}, missing.nft),
    { code: 'LEAN_ERR_CLOUD_NETWORK' },
  )
})

test('removing: no nft means no table to remove; nft refusing is an error', async () => {
  const missing = fakeNft(
    new Set(),
    Object.assign(new Error('the nft command is missing'), { code: 'ENOENT' }),
  )
  await removeClusterFirewall(net, () => {}, missing.nft)
  const refused = fakeNft(new Set(), new Error('Operation not permitted'))
  await assert.rejects(
    removeClusterFirewall(net, () => {}, refused.nft),
    { code: 'LEAN_ERR_CLOUD_NETWORK' },
  )
})
