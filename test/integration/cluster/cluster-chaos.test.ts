// A real cluster of 3 nodes on this machine (network namespaces on a bridge,
// cloud:up -- --nodes 3, in a data dir of its own beside the tests' cloud):
// a node killed and a leading controller killed, the first and third of
// bench:chaos's failures, with bounds a loaded 2-core machine meets (the
// bench measures against the issue's). Then cloud:down must leave no
// namespace, link, process or firewall table behind.
import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { applyDocument } from '../../../cli/commands/apply.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { trustCaCertsFromEnv } from '../../../controller/ca-trust.ts'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { loadOrCreateCredentials } from '../../../infra/cloud/credentials.ts'
import { downCluster, existingCluster, upCluster, type Cluster } from '../../../infra/cloud/cluster.ts'
import { controllerRoles, dnsAddresses, leaders, nodeName, processesInNode, runningAllocations } from '../../../infra/cloud/cluster-chaos.ts'
import { controllerLoss, nodeLoss, waitAppsRunning, type ChaosContext } from '../../../infra/cloud/chaos-scenarios.ts'
import { ingressClient } from '../../../infra/cloud/ingress-client.ts'
import { publishComponent, s3FromEnv } from '../../../infra/components/publish.ts'
import { processesUnder } from '../../../infra/cloud/processes.ts'
import { buildComponentIfChanged } from '../../../workloads/build-component.ts'
import { cloudS3Client } from '../../../infra/cloud/agents/s3.ts'
import { storedFiles } from '../../../infra/cloud/agents/s3-volume.ts'
import { SCRATCH_BUCKET } from '../../../ground/buckets.ts'
import { readObjectBytes } from '../../../ground/s3-client.ts'

const run = promisify(execFile)

const readObject = async (s3: ReturnType<typeof cloudS3Client>, key: string) => (await readObjectBytes(s3, SCRATCH_BUCKET, key)).toString()
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const base = loadConfig({ ...process.env, LEAN_CLOUD_DATA_DIR: path.join(repo, '.lean-cloud-test-cluster'), LEAN_CLOUD_CLUSTER_PREFIX: '' })
const progress = (m: string) => process.stderr.write(`[cluster] ${m}\n`)
// Bounds for a loaded 2-core machine; bench:chaos holds the (30 s, 15 s).
const HEAL_MS = 240_000
const COUNT = 6

let cluster: Cluster
let ctx: ChaosContext
let document: object

before(async () => {
  const { env } = await upCluster(base, 3, progress)
  trustCaCertsFromEnv(env)
  cluster = (await existingCluster(base))!
  const credentials = await loadOrCreateCredentials(base)
  const built = await buildComponentIfChanged('hello')
  await publishComponent(s3FromEnv(env, 'publisher'), built)
  document = { kind: 'wasm-service', component: { sha256: built.sha256 }, count: COUNT, spread: true, port: 'dynamic', service: { checkPath: '/' }, ingress: true }
  await applyDocument(new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN), base.controller.appsPrefix, 'hello', JSON.stringify(document))
  ctx = { cluster, credentials, env, apps: { hello: COUNT }, progress, timeoutMs: 600_000 }
  await waitAppsRunning(ctx)
  ctx = { ...ctx, timeoutMs: HEAL_MS }
})

after(async () => {
  const made = await existingCluster(base)
  if (made) await downCluster(base, made, progress)
})

test('three nodes elect one leader each for Nomad, Consul and the controllers, and spread the app over all of them', async () => {
  const lead = await leaders(cluster, ctx)
  assert.ok(lead.nomad && lead.consul, `leaders: ${JSON.stringify(lead)}`)
  const roles = Object.values(await controllerRoles(cluster))
  assert.deepEqual(roles.sort(), ['follower', 'follower', 'leader'])
  const allocs = await runningAllocations(cluster, ctx, 'hello')
  assert.deepEqual(Object.keys(allocs ?? {}).sort(), ['n1', 'n2', 'n3'], `spread over every node: ${JSON.stringify(allocs)}`)
  for (const service of ['s3', 'postgres', 'smtp'])
    assert.deepEqual(await dnsAddresses(cluster.nodes[1]!, service), [cluster.net.gateway], `${service}.service.consul is the gateway`)
  for (const node of cluster.nodes) {
    const client = ingressClient(node.ingress.port, node.host)
    try {
      assert.equal((await client.request('hello')).status, 200, `${nodeName(node)}'s ingress serves the app`)
    } finally {
      client.close()
    }
  }
})

test("a node whose every process is killed: its instances move to the others, DNS drops them, another node's ingress fails no request, and no stored object is lost", async () => {
  const lead = await leaders(cluster, ctx)
  const victim = cluster.nodes.find((n) => nodeName(n) !== lead.nomad && nodeName(n) !== lead.consul)!
  const ingressNode = cluster.nodes.find((n) => n !== victim)!
  // Objects stored before the loss, some of them on the victim's volume server.
  const s3 = cloudS3Client(cluster.shared, ctx.credentials)
  const keys = Array.from({ length: 30 }, (_, i) => `node-loss/${i}`)
  for (const key of keys) await s3.putObject(SCRATCH_BUCKET, key, Buffer.from(`object ${key}`))
  assert.ok((await storedFiles(victim, SCRATCH_BUCKET)) > 0, `${nodeName(victim)}'s volume server holds some of the objects`)
  const r = await nodeLoss(ctx, victim, ingressNode, 'hello')
  progress(`node loss: ${JSON.stringify({ ...r, failed: r.failed.slice(0, 5), trace: undefined })}`)
  // A slow replacement leaves the scheduler's evaluations on record (seen once: 62 s, cause unknown).
  for (const line of r.trace ?? []) progress(`  scheduler: ${line}`)
  assert.ok(r.processesKilled > 0)
  assert.deepEqual(await processesInNode(victim), [], 'nothing runs in the killed node')
  assert.notEqual(r.replacedMs, undefined, 'every allocation was replaced on the other nodes')
  assert.notEqual(r.dnsDroppedMs, undefined, "the survivors' DNS dropped the killed node's instances")
  assert.ok(!(await dnsAddresses(ingressNode, 'hello')).includes(victim.host))
  assert.notEqual(r.runningMs, undefined, 'the app was running again, all instances healthy')
  assert.ok(r.requests > 0)
  assert.deepEqual(r.failed, [], `no request through ${nodeName(ingressNode)}'s ingress failed`)
  // Every object reads back whole from its other copy, and new ones are stored on the nodes left.
  for (const key of keys) assert.equal(await readObject(s3, key), `object ${key}`, `${key} reads back after the loss`)
  await s3.putObject(SCRATCH_BUCKET, 'node-loss/after', Buffer.from('after'))
  assert.equal(await readObject(s3, 'node-loss/after'), 'after')
  // The node comes back with cloud:up, and the cluster is whole again.
  await upCluster(base, 3, () => {})
  await waitAppsRunning(ctx)
})

test('the leading controller killed: another leads and carries out a change made meanwhile', async () => {
  const r = await controllerLoss(ctx, 'hello', document, COUNT - 2)
  progress(`controller loss: ${JSON.stringify(r)}`)
  assert.notEqual(r.newLeader, undefined)
  assert.notEqual(r.newLeader, r.victim)
  assert.notEqual(r.convergedMs, undefined, `hello runs ${COUNT - 2} instances under the new leader`)
})

test('cloud:down removes every namespace, link, process and the firewall of the cluster', async () => {
  const net = cluster.net
  await downCluster(base, cluster, progress)
  const { stdout: links } = await run('ip', ['-o', 'link', 'show'])
  assert.ok(!links.includes(net.bridge), `bridge ${net.bridge} is gone`)
  for (const node of net.nodes) {
    assert.ok(!links.includes(node.hostVeth), `link ${node.hostVeth} is gone`)
    await assert.rejects(access(node.netnsPath), `namespace ${node.netns} is gone`)
  }
  const { stdout: tables } = await run('nft', ['list', 'tables'])
  assert.ok(!tables.includes(`table inet ${net.firewallTable}\n`), `firewall ${net.firewallTable} is gone`)
  assert.deepEqual(await processesUnder(base.dataDir), [])
  assert.equal(await existingCluster(base), undefined)
})
