// A cloud of several nodes on one machine (`cloud:up -- --nodes 3`): each node
// is a network namespace on the cluster's bridge (cluster-network.ts) running a
// Consul server, a Nomad server and client with the wasm and virt drivers (and
// its own libvirtd), an S3 volume server, the ingress (Nomad's system job
// lands on every client) and a controller; the three elect their leaders. The
// shared services (S3's master, filer and gateway, PostgreSQL, SMTP) run once,
// on the host, listening on the bridge's gateway address.
//
// The same agents and renderers as the single-node cloud: a node is a
// CloudConfig with its own address and data dir and a `node` section.
import { totalmem } from 'node:os'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { agents } from './agents/all.ts'
import { s3VolumeAgent } from './agents/s3-volume.ts'
import { cloudS3Client } from './agents/s3.ts'
import type { Agent } from './agent.ts'
import { cloudTag, layout, type CloudConfig } from './config.ts'
import { cloudEnv, loadOrCreateCredentials, writeEnvFile, type Credentials } from './credentials.ts'
import { CloudError, ConfigError } from './errors.ts'
import { readTextIfExists, writeFileAtomic } from './files.ts'
import { readIssuedTokens } from './issued-tokens.ts'
import { waitFor } from './wait.ts'
import { ensurePrerequisites } from './prerequisites.ts'
import { cloudFetch, ensureTls } from './tls.ts'
import { ensureClusterNet, NODE_INTERFACE, planClusterNet, removeClusterNet, type ClusterNet } from './cluster-network.ts'
import { applyClusterFirewall, removeClusterFirewall } from './cluster-firewall.ts'
import { agentFiles, bringUp, stopAgent, type AgentUnit, type UpResult } from './up.ts'
import { ensureController, stopController } from './controller-daemon.ts'
import { sweepLeftovers } from './down.ts'
import { ARTIFACTS_BUCKET } from '../../ground/buckets.ts'
import { readObjectBytes } from '../../ground/s3-client.ts'

/**
 * What every node runs, as a real server does: Consul, its own libvirtd (so
 * QEMU runs in the node's namespace and a VM's forwards listen on the node's
 * address), Nomad, and a volume server holding the cluster's objects.
 */
const NODE_AGENTS: ReadonlySet<string> = new Set(['consul', 'libvirt', 'nomad'])
const nodeAgents: readonly Agent[] = [...agents.filter((a) => NODE_AGENTS.has(a.name)), s3VolumeAgent]

export interface Cluster {
  readonly net: ClusterNet
  /** The shared services' config: the cluster's data dir, listening on the gateway. */
  readonly shared: CloudConfig
  readonly nodes: readonly CloudConfig[]
}

interface ClusterRecord {
  readonly nodes: number
  readonly prefix: string
}

const recordFile = (config: CloudConfig) => path.join(config.dataDir, 'cluster.json')

/** The node count and range a data dir's cluster was made with; undefined for a single-node cloud. */
export async function readClusterRecord(config: CloudConfig): Promise<ClusterRecord | undefined> {
  const text = await readTextIfExists(recordFile(config))
  return text === undefined ? undefined : (JSON.parse(text) as ClusterRecord)
}

/** The cluster's /24: LEAN_CLOUD_CLUSTER_PREFIX, or one of 10.213.x derived from the data dir. */
export function clusterPrefix(config: CloudConfig, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.LEAN_CLOUD_CLUSTER_PREFIX
  if (given === undefined || given === '') return `10.213.${parseInt(cloudTag(config.dataDir).slice(0, 2), 16)}`
  const octets = given.split('.').map(Number)
  const isPrivate =
    /^\d+\.\d+\.\d+$/.test(given) &&
    octets.every((o) => o <= 255) &&
    (octets[0] === 10 || (octets[0] === 172 && octets[1]! >= 16 && octets[1]! <= 31) || (octets[0] === 192 && octets[1] === 168))
  if (!isPrivate) throw new ConfigError('LEAN_CLOUD_CLUSTER_PREFIX', `expected the first three octets of a private /24 (e.g. 10.214.1), got '${given}'`)
  return given
}

/** The machine's memory, split evenly between the nodes (see ClusterNodeConfig.memoryTotalMB). */
function shareOfMachine(count: number): { memoryTotalMB: number } {
  return { memoryTotalMB: Math.floor(totalmem() / 2 ** 20 / count) }
}

/** The configs of a cluster of `count` nodes built on the single cloud's `base`. */
export function planCluster(base: CloudConfig, count: number, prefix: string): Cluster {
  const net = planClusterNet(cloudTag(base.dataDir), prefix, count)
  const peers = net.nodes.map((n) => n.address)
  const share = shareOfMachine(count)
  const nodes = net.nodes.map(
    (n): CloudConfig => ({
      ...base,
      host: n.address,
      dataDir: path.join(base.dataDir, 'nodes', n.name),
      nomad: { ...base.nomad, cgroupParent: `${base.nomad.cgroupParent}-${n.name}` },
      node: {
        name: n.name,
        netnsPath: n.netnsPath,
        networkInterface: NODE_INTERFACE,
        peers,
        rootDir: base.dataDir,
        servicesHost: net.gateway,
        ...share,
      },
    }),
  )
  return { net, shared: { ...base, host: net.gateway, objectsOnNodes: true }, nodes }
}

export function clusterUnits(cluster: Cluster): AgentUnit[] {
  return [
    ...agents.filter((a) => !NODE_AGENTS.has(a.name)).map((agent) => ({ agent, config: cluster.shared })),
    ...cluster.nodes.flatMap((config) => nodeAgents.map((agent) => ({ agent, config }))),
  ]
}

/**
 * The host's TCP ports a node may open on the gateway (the cluster's firewall
 * drops the rest): the shared services' own, and S3's master gRPC, where the
 * nodes' volume servers send their heartbeats (mutual TLS with the S3 CA).
 */
export function hostPortsForNodes(shared: CloudConfig): number[] {
  return [shared.s3.port, shared.postgres.port, shared.smtp.port, ...(shared.objectsOnNodes ? [shared.s3.masterGrpcPort] : [])]
}

/** Refuses a node count other than the one this data dir's cluster (or single cloud) was made with. */
async function assertSameShape(base: CloudConfig, count: number): Promise<ClusterRecord | undefined> {
  const record = await readClusterRecord(base)
  const consul = agents.find((a) => a.name === 'consul')!
  const single = record === undefined && (await readTextIfExists(layout(base).credentials)) !== undefined && (await readTextIfExists(agentFiles(base, consul).pidFile)) !== undefined
  if ((record && record.nodes !== count) || single) {
    const was = record ? `${record.nodes} nodes` : 'a single node'
    throw new CloudError('LEAN_ERR_CLOUD_NODES', `--nodes ${count}: this data dir's cloud has ${was}; run cloud:down first (it keeps KV, objects and the database only for the same shape)`)
  }
  return record
}

/** `cloud:up -- --nodes N`: the network, the shared services, the nodes, then a controller on each. */
export async function upCluster(base: CloudConfig, count: number, progress: (m: string) => void): Promise<UpResult> {
  const record = await assertSameShape(base, count)
  const cluster = planCluster(base, count, record?.prefix ?? clusterPrefix(base))
  await ensurePrerequisites(base)
  await mkdir(base.dataDir, { recursive: true })
  await writeFileAtomic(recordFile(base), `${JSON.stringify({ nodes: count, prefix: cluster.net.prefix })}\n`)
  // The firewall before the bridge: no node ever reaches the host unfiltered.
  await applyClusterFirewall(cluster.net, hostPortsForNodes(cluster.shared), progress)
  await ensureClusterNet(cluster.net, progress)
  const credentials = await loadOrCreateCredentials(base)
  const renewed = [...(await ensureTls(cluster.shared)), ...(await Promise.all(cluster.nodes.map((n) => ensureTls(n)))).flat()]
  for (const { file, reason } of renewed) progress(`TLS: made ${file} (${reason})`)
  for (const config of [cluster.shared, ...cluster.nodes]) {
    await mkdir(layout(config).logs, { recursive: true })
    await mkdir(layout(config).run, { recursive: true })
  }

  const units = clusterUnits(cluster)
  const { started, reused, binaries } = await bringUp(units, credentials, renewed.length > 0, progress)
  // Cluster-wide resources once: Consul's and Nomad's through the first node, the rest on the host.
  const first = cluster.nodes[0]!
  for (const { agent, config } of units.filter((u) => u.config === cluster.shared || u.config === first))
    await agent.ensureResources?.({ config, credentials, binaries, progress })

  await waitNodesCanRun(cluster, credentials, progress)
  await waitObjectsWritable(cluster.shared, cluster.nodes.length, credentials, progress)
  await registerSharedServices(cluster, credentials)
  progress(`Consul: s3, postgres and smtp.service.consul name the shared services on ${cluster.net.gateway}`)

  const env = cloudEnv(first, credentials, await readIssuedTokens(first))
  const envFile = await writeEnvFile(first, env)
  for (const node of cluster.nodes) {
    const nodeEnv = cloudEnv(node, credentials, await readIssuedTokens(node))
    const { url } = await ensureController(node, nodeEnv, (m) => progress(`${m.replace(/^controller/, `controller@${node.node!.name}`)}`))
    progress(`controller@${node.node!.name}: ready at ${url}`)
  }
  return { envFile, env, started, reused }
}

/**
 * Waits until every node's client could take an app: its wasm driver healthy
 * and its Consul fingerprinted (Nomad places a group with services only on a
 * node with `attr.consul.version`, which a client reads with the token that
 * Consul's ensureResources has only just made). A node that is late would
 * miss the first placements: spread is a preference, and a fresh cluster put
 * all 6 of an app on the quickest node.
 */
async function waitNodesCanRun(cluster: Cluster, credentials: Credentials, progress: (m: string) => void): Promise<void> {
  const first = cluster.nodes[0]!
  const api = `https://${first.host}:${first.nomad.httpPort}`
  const headers = { 'x-nomad-token': credentials.nomadManagementToken }
  const get = async <T>(path: string): Promise<T> => {
    const res = await cloudFetch(first, `${api}${path}`, { headers, signal: AbortSignal.timeout(5000) })
    if (!res.ok) throw new Error(`Nomad GET ${path}: ${res.status}`)
    return (await res.json()) as T
  }
  let waiting: string[] = []
  await waitFor(
    async () => {
      const stubs = await get<Array<{ ID: string; Name: string }>>('/v1/nodes')
      const nodes = await Promise.all(
        stubs.map((n) => get<{ Name: string; Attributes?: Record<string, string>; Drivers?: Record<string, { Healthy?: boolean }> }>(`/v1/node/${n.ID}`)),
      )
      waiting = cluster.nodes
        .map(nodeNameOf)
        .filter((name) => {
          const node = nodes.find((n) => n.Name === name)
          return !node?.Attributes?.['consul.version'] || node.Drivers?.wasm?.Healthy !== true
        })
      return waiting.length === 0
    },
    {
      timeoutMs: first.startTimeoutMs,
      intervalMs: 500,
      what: 'every node to have its Consul fingerprinted and its wasm driver healthy',
      onProgress: (ms) => progress(`  waiting for ${waiting.join(', ')} to be able to run apps (${Math.round(ms / 1000)}s)`),
    },
  )
}

const nodeNameOf = (node: CloudConfig): string => node.node!.name

/**
 * Waits until S3 stores an object with its two copies: the volume servers have
 * joined the master and it could grow a volume on two of them. A probe object
 * is written, read back and deleted. Also cluster:init's, for real servers.
 */
export async function waitObjectsWritable(
  shared: CloudConfig,
  volumeServers: number,
  credentials: Credentials,
  progress: (m: string) => void,
): Promise<void> {
  const s3 = cloudS3Client(shared, credentials)
  const key = 'probe/cloud-up'
  await waitFor(
    async () => {
      await s3.putObject(ARTIFACTS_BUCKET, key, Buffer.from('two copies'))
      await readObjectBytes(s3, ARTIFACTS_BUCKET, key)
      await s3.removeObject(ARTIFACTS_BUCKET, key)
      return true
    },
    {
      timeoutMs: shared.startTimeoutMs,
      intervalMs: 1000,
      what: "S3 to store an object on the nodes' volume servers",
      onProgress: (ms, err) =>
        progress(
          `  waiting for S3 to store on the nodes' volume servers (${Math.round(ms / 1000)}s${err instanceof Error ? `: ${err.message}` : ''})`,
        ),
    },
  )
  progress(`S3: objects are stored twice, on ${volumeServers} nodes' volume servers`)
}

/**
 * The shared services in Consul's catalog, on a node of their own (the
 * gateway, which runs no agent): every node's DNS answers
 * `s3.service.consul` and the others with the address their certificates name.
 */
async function registerSharedServices(cluster: Cluster, credentials: Credentials): Promise<void> {
  const first = cluster.nodes[0]!
  const ports = { s3: first.s3.port, postgres: first.postgres.port, smtp: first.smtp.port }
  for (const [service, port] of Object.entries(ports)) {
    const res = await cloudFetch(first, `https://${first.host}:${first.consul.httpPort}/v1/catalog/register`, {
      method: 'PUT',
      headers: { 'x-consul-token': credentials.consulManagementToken },
      body: JSON.stringify({
        Node: 'lean-shared-services',
        Address: cluster.net.gateway,
        NodeMeta: { 'external-node': 'true' },
        Service: { ID: service, Service: service, Port: port, Address: cluster.net.gateway },
      }),
      signal: AbortSignal.timeout(10_000),
    })
    if (!res.ok) throw new CloudError('LEAN_ERR_CLOUD_START', `Consul refused to register ${service} in its catalog: ${res.status} ${(await res.text()).trim()}`)
    await res.body?.cancel()
  }
}

/** The cluster of this data dir, when it was made as one. */
export async function existingCluster(base: CloudConfig): Promise<Cluster | undefined> {
  const record = await readClusterRecord(base)
  return record && planCluster(base, record.nodes, record.prefix)
}

/** Stops the controllers, every node's agents and the shared services, then removes the network and its firewall. */
export async function downCluster(base: CloudConfig, cluster: Cluster, progress: (m: string) => void): Promise<void> {
  for (const node of cluster.nodes) await stopController(node, progress)
  const units = clusterUnits(cluster).reverse()
  await Promise.all(cluster.nodes.map((n) => stopAgent(n, agents.find((a) => a.name === 'nomad')!, progress)))
  for (const { agent, config } of units.filter((u) => u.agent.name !== 'nomad')) await stopAgent(config, agent, progress)
  await sweepLeftovers(base, cluster.nodes, progress)
  await removeClusterNet(cluster.net, progress)
  await removeClusterFirewall(cluster.net, progress)
  await rm(recordFile(base), { force: true })
}
