// Faults and observations on a cluster of this machine (cluster.ts), for
// bench:chaos and the cluster's integration test: a node killed (every process
// in its namespace, agents and tasks, as a machine losing power), a node cut
// off (its link down), the leading controller killed; and what the survivors
// say: leaders, allocations, DNS answers, app status.
import { readdir, readlink, stat } from 'node:fs/promises'
import { Resolver } from 'node:dns/promises'
import type { AppStatus } from '../../controller/app-status.ts'
import type { CloudConfig } from './config.ts'
import type { Credentials } from './credentials.ts'
import { controllerAddr, controllerPid } from './controller-daemon.ts'
import { setNodeLink } from './cluster-network.ts'
import type { Cluster } from './cluster.ts'
import { cloudFetch } from './tls.ts'

export const nodeName = (node: CloudConfig): string => node.node!.name

/** Every process whose network namespace is the node's. */
export async function processesInNode(node: CloudConfig): Promise<number[]> {
  const netns = node.node?.netnsPath
  if (!netns) throw new Error(`${nodeName(node)} has no namespace on this machine`)
  const want = `net:[${(await stat(netns)).ino}]`
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const ns = await readlink(`/proc/${entry}/ns/net`).catch(() => undefined)
    if (ns === want) pids.push(Number(entry))
  }
  return pids
}

/** Kills every process of the node at once (SIGKILL: nothing deregisters or hands over); returns how many. */
export async function killNode(node: CloudConfig): Promise<number> {
  let killed = 0
  // Twice: a dying plugin may have started a child between the listing and the kill.
  for (let round = 0; round < 2; round++) {
    for (const pid of await processesInNode(node)) {
      try {
        process.kill(pid, 'SIGKILL')
        killed++
      } catch {
        // gone already
      }
    }
  }
  return killed
}

/** Cuts the node off the bridge (`false`) or joins it again (`true`). */
export async function setReachable(cluster: Cluster, node: CloudConfig, up: boolean): Promise<void> {
  await setNodeLink(cluster.net.nodes.find((n) => n.name === nodeName(node))!, up)
}

interface Api {
  readonly credentials: Credentials
}

/** A GET to one node's agent over HTTPS with the cloud's CA; undefined when it does not answer. */
async function getJson<T>(node: CloudConfig, url: string, headers: Record<string, string>): Promise<T | undefined> {
  try {
    const res = await cloudFetch(node, url, { headers, signal: AbortSignal.timeout(3000) })
    if (!res.ok) {
      await res.body?.cancel()
      return undefined
    }
    return (await res.json()) as T
  } catch {
    return undefined
  }
}

/** The first answer of `ask` over the nodes, in order: any live node will do. */
async function fromAnyNode<T>(nodes: readonly CloudConfig[], ask: (node: CloudConfig) => Promise<T | undefined>): Promise<T | undefined> {
  for (const node of nodes) {
    const answer = await ask(node)
    if (answer !== undefined) return answer
  }
  return undefined
}

const byAddress = (cluster: Cluster, hostPort: string | undefined): string | undefined =>
  cluster.nodes.find((n) => hostPort?.startsWith(`${n.host}:`))?.node?.name

/** Which node leads Nomad's servers and which Consul's, as the given nodes see it. */
export async function leaders(cluster: Cluster, { credentials }: Api, askNodes = cluster.nodes): Promise<{ nomad: string | undefined; consul: string | undefined }> {
  const nomad = await fromAnyNode(askNodes, (n) =>
    getJson<string>(n, `https://${n.host}:${n.nomad.httpPort}/v1/status/leader`, { 'x-nomad-token': credentials.nomadManagementToken }).then((l) => (l ? l : undefined)),
  )
  const consul = await fromAnyNode(askNodes, (n) =>
    getJson<string>(n, `https://${n.host}:${n.consul.httpPort}/v1/status/leader`, { 'x-consul-token': credentials.consulManagementToken }).then((l) => (l ? l : undefined)),
  )
  return { nomad: byAddress(cluster, nomad), consul: byAddress(cluster, consul) }
}

/** Each node's controller role: leader, follower, or down (no answer). */
export async function controllerRoles(cluster: Cluster): Promise<Record<string, string>> {
  const roles: Record<string, string> = {}
  await Promise.all(
    cluster.nodes.map(async (n) => {
      const res = await fetch(`http://${controllerAddr(n)}/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
      const body = res ? ((await res.json().catch(() => ({}))) as { role?: string }) : {}
      roles[nodeName(n)] = body.role ?? 'down'
    }),
  )
  return roles
}

/** Kills the leading controller's process (SIGKILL: its lock is only freed when its Consul session expires); returns its node. */
export async function killLeadingController(cluster: Cluster): Promise<string> {
  const roles = await controllerRoles(cluster)
  const leader = cluster.nodes.find((n) => roles[nodeName(n)] === 'leader')
  if (!leader) throw new Error(`no controller leads (roles: ${JSON.stringify(roles)})`)
  const pid = await controllerPid(leader)
  if (pid === undefined) throw new Error(`the leading controller on ${nodeName(leader)} has no pid file`)
  process.kill(pid, 'SIGKILL')
  return nodeName(leader)
}

/** Running allocations of a managed job, by node name, as the given nodes' Nomad sees them. */
export async function runningAllocations(cluster: Cluster, { credentials }: Api, job: string, askNodes = cluster.nodes): Promise<Record<string, number> | undefined> {
  const allocs = await fromAnyNode(askNodes, (n) =>
    getJson<Array<{ NodeName: string; ClientStatus: string; DesiredStatus: string }>>(
      n,
      `https://${n.host}:${n.nomad.httpPort}/v1/job/${encodeURIComponent(job)}/allocations?namespace=${encodeURIComponent(n.controller.namespace)}`,
      { 'x-nomad-token': credentials.nomadManagementToken },
    ),
  )
  if (!allocs) return undefined
  const counts: Record<string, number> = {}
  for (const a of allocs) if (a.ClientStatus === 'running' && a.DesiredStatus === 'run') counts[a.NodeName] = (counts[a.NodeName] ?? 0) + 1
  return counts
}

interface EvalStub {
  readonly ID: string
  readonly TriggeredBy: string
  readonly Status: string
  readonly StatusDescription?: string
  readonly NodeID?: string
  readonly BlockedEval?: string
  readonly WaitUntil?: string
  readonly CreateTime: number
  readonly ModifyTime: number
  readonly FailedTGAllocs?: Record<string, { readonly NodesExhausted?: number; readonly DimensionExhausted?: Record<string, number>; readonly ConstraintFiltered?: Record<string, number> }>
}

/**
 * What Nomad's scheduler did for a job since `sinceMs` (epoch ms), one line per
 * evaluation and deployment: kept by a slow healing so that its cause is on
 * record (which trigger, how long an evaluation waited, what blocked it).
 */
export async function schedulingTrace(cluster: Cluster, { credentials }: Api, job: string, sinceMs: number, askNodes = cluster.nodes): Promise<string[]> {
  const headers = { 'x-nomad-token': credentials.nomadManagementToken }
  const at = (ns: number) => `+${((ns / 1e6 - sinceMs) / 1000).toFixed(1)}s`
  const query = (n: CloudConfig, what: string) => `https://${n.host}:${n.nomad.httpPort}/v1/job/${encodeURIComponent(job)}/${what}?namespace=${encodeURIComponent(n.controller.namespace)}`
  const evals = (await fromAnyNode(askNodes, (n) => getJson<EvalStub[]>(n, query(n, 'evaluations'), headers))) ?? []
  const deployments =
    (await fromAnyNode(askNodes, (n) => getJson<Array<{ ID: string; Status: string; StatusDescription: string; CreateIndex: number }>>(n, query(n, 'deployments'), headers))) ?? []
  return [
    ...evals
      .filter((e) => e.ModifyTime / 1e6 >= sinceMs - 60_000)
      .sort((a, b) => a.CreateTime - b.CreateTime)
      .map((e) => {
        const failed = Object.entries(e.FailedTGAllocs ?? {}).map(([tg, m]) => `${tg}: ${JSON.stringify({ exhausted: m.NodesExhausted, dims: m.DimensionExhausted, filtered: m.ConstraintFiltered })}`)
        return [
          `eval ${e.ID.slice(0, 8)} ${e.TriggeredBy} ${e.Status}${e.StatusDescription ? ` (${e.StatusDescription})` : ''}`,
          `created ${at(e.CreateTime)} modified ${at(e.ModifyTime)}`,
          ...(e.WaitUntil && !e.WaitUntil.startsWith('0001') ? [`wait until ${e.WaitUntil}`] : []),
          ...(e.BlockedEval ? [`blocked eval ${e.BlockedEval.slice(0, 8)}`] : []),
          ...failed,
        ].join(', ')
      }),
    ...deployments.map((d) => `deployment ${d.ID.slice(0, 8)} ${d.Status}: ${d.StatusDescription}`),
  ]
}

/** The addresses Consul's DNS on `node` gives for `<service>.service.consul` (passing instances only). */
export async function dnsAddresses(node: CloudConfig, service: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 })
  resolver.setServers([`${node.host}:${node.consul.dnsPort}`])
  return resolver.resolve4(`${service}.service.consul`).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return []
    throw err
  })
}

/** An app's status as the controller wrote it to Consul KV, read through the given nodes. */
export async function appStatus(cluster: Cluster, { credentials }: Api, app: string, askNodes = cluster.nodes): Promise<AppStatus | undefined> {
  const entries = await fromAnyNode(askNodes, (n) =>
    getJson<Array<{ Value: string | null }>>(n, `https://${n.host}:${n.consul.httpPort}/v1/kv/${n.controller.statusPrefix}${encodeURIComponent(app)}`, {
      'x-consul-token': credentials.consulManagementToken,
    }),
  )
  const value = entries?.[0]?.Value
  return value ? (JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as AppStatus) : undefined
}

/** Every Consul KV key under `prefix`, read through the given nodes. */
export async function kvKeys(cluster: Cluster, { credentials }: Api, prefix: string, askNodes = cluster.nodes): Promise<string[] | undefined> {
  return fromAnyNode(askNodes, (n) =>
    getJson<string[]>(n, `https://${n.host}:${n.consul.httpPort}/v1/kv/${prefix}?keys=true`, { 'x-consul-token': credentials.consulManagementToken }),
  )
}

/** IDs of the managed jobs, read through the given nodes. */
export async function jobIds(cluster: Cluster, { credentials }: Api, askNodes = cluster.nodes): Promise<string[] | undefined> {
  const jobs = await fromAnyNode(askNodes, (n) =>
    getJson<Array<{ ID: string; Stop: boolean }>>(n, `https://${n.host}:${n.nomad.httpPort}/v1/jobs?namespace=${encodeURIComponent(n.controller.namespace)}`, {
      'x-nomad-token': credentials.nomadManagementToken,
    }),
  )
  return jobs?.filter((j) => !j.Stop).map((j) => j.ID).sort()
}

interface AutopilotHealth {
  readonly Healthy: boolean
  readonly FailureTolerance: number
  readonly Servers: ReadonlyArray<{ readonly Name: string; readonly Healthy: boolean; readonly Voter: boolean }>
}

/**
 * Whether Consul's and Nomad's servers are all healthy voters, as autopilot
 * reports. After a node comes back, autopilot first takes it as a non-voter
 * until it is stable: losing another server before then loses the quorum.
 */
export async function serversHealthy(cluster: Cluster, { credentials }: Api): Promise<boolean> {
  const whole = (h: AutopilotHealth | undefined) =>
    h !== undefined && h.Healthy && h.Servers.length === cluster.nodes.length && h.Servers.every((s) => s.Healthy && s.Voter)
  const consul = await fromAnyNode(cluster.nodes, (n) =>
    getJson<AutopilotHealth>(n, `https://${n.host}:${n.consul.httpPort}/v1/operator/autopilot/health`, { 'x-consul-token': credentials.consulManagementToken }),
  )
  const nomad = await fromAnyNode(cluster.nodes, (n) =>
    getJson<AutopilotHealth>(n, `https://${n.host}:${n.nomad.httpPort}/v1/operator/autopilot/health`, { 'x-nomad-token': credentials.nomadManagementToken }),
  )
  return whole(consul) && whole(nomad)
}
