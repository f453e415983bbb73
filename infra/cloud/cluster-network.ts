// The network of a cluster on one machine: a bridge the cloud creates, with
// the gateway address on the host side, and one network namespace per node,
// joined to the bridge by a veth pair, with an address of its own. Only this
// machine routes the range; nothing is forwarded or masqueraded out of it, and
// a firewall (cluster-firewall.ts) limits what a node reaches on the host.
//
// Processes enter a node with `nsenter --net=/run/netns/<name>`, never
// `ip netns exec`, which remounts /sys and hides the cgroup tree Nomad needs.
import { execFile } from 'node:child_process'
import { access } from 'node:fs/promises'
import { promisify } from 'node:util'
import { CloudError } from './errors.ts'

const run = promisify(execFile)

/** The interface every node sees inside its namespace (Nomad's network_interface). */
export const NODE_INTERFACE = 'lean0'

export interface ClusterNodeNet {
  /** n1, n2, …: the node's name in Consul and Nomad. */
  readonly name: string
  readonly address: string
  /** The namespace (`ip netns` name) and the path nsenter takes. */
  readonly netns: string
  readonly netnsPath: string
  /** The host end of the node's veth pair, on the bridge. */
  readonly hostVeth: string
}

export interface ClusterNet {
  readonly bridge: string
  /** The first three octets of the /24 (e.g. 10.213.7). */
  readonly prefix: string
  /** The host's address on the bridge: where the shared services listen. */
  readonly gateway: string
  readonly nodes: readonly ClusterNodeNet[]
  /** The nftables table (family inet) of the cluster's host firewall. */
  readonly firewallTable: string
}

export const MAX_NODES = 7

/** The names and addresses of a cluster of `count` nodes; `tag` keeps two clouds' apart, `prefix` is its /24. */
export function planClusterNet(tag: string, prefix: string, count: number): ClusterNet {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new CloudError('LEAN_ERR_CLOUD_NODES', `--nodes: expected a whole number from 1 to ${MAX_NODES}, got ${count}`)
  }
  const short = tag.slice(0, 6)
  return {
    bridge: `lnb${short}`,
    prefix,
    gateway: `${prefix}.1`,
    firewallTable: `lean_${short}`,
    nodes: Array.from({ length: count }, (_, i) => {
      const name = `n${i + 1}`
      const netns = `lean-${short}-${name}`
      return { name, address: `${prefix}.${11 + i}`, netns, netnsPath: `/run/netns/${netns}`, hostVeth: `lnv${short}${name}` }
    }),
  }
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    const why = e.code === 'ENOENT' ? 'the ip command is missing (Debian package iproute2)' : (e.stderr ?? e.message).trim()
    throw new CloudError('LEAN_ERR_CLOUD_NETWORK', `ip ${args.join(' ')}: ${why}`)
  }
}

const exists = (file: string) => access(file).then(() => true, () => false)

async function linkExists(name: string): Promise<boolean> {
  return ip(['-o', 'link', 'show', name]).then(() => true, () => false)
}

/** A route of the host's (not our bridge's) that overlaps the cluster's /24. */
async function conflictingRoute(net: ClusterNet): Promise<string | undefined> {
  const routes = (await ip(['-4', '-o', 'route', 'show'])).split('\n').filter(Boolean)
  return routes.find((line) => line.startsWith(`${net.prefix}.0/24`) && !line.includes(` dev ${net.bridge} `))
}

/** Inside a node's namespace. */
function inNode(node: ClusterNodeNet, args: string[]): Promise<string> {
  return ip(['-n', node.netns, ...args])
}

/** Creates the bridge, the namespaces and their links that are missing; idempotent. */
export async function ensureClusterNet(net: ClusterNet, progress: (m: string) => void): Promise<void> {
  const conflict = await conflictingRoute(net)
  if (conflict) {
    throw new CloudError(
      'LEAN_ERR_CLOUD_NETWORK',
      `the cluster's range ${net.prefix}.0/24 is already routed on this machine (${conflict.trim()}); set LEAN_CLOUD_CLUSTER_PREFIX to another private /24, e.g. 10.214.1`,
    )
  }
  if (!(await linkExists(net.bridge))) {
    await ip(['link', 'add', net.bridge, 'type', 'bridge'])
    await ip(['addr', 'add', `${net.gateway}/24`, 'dev', net.bridge])
    progress(`network: made bridge ${net.bridge} with ${net.gateway}/24`)
  }
  await ip(['link', 'set', net.bridge, 'up'])
  for (const node of net.nodes) {
    if (!(await exists(node.netnsPath))) {
      await ip(['netns', 'add', node.netns])
      progress(`network: made namespace ${node.netns} for node ${node.name}`)
    }
    if (!(await linkExists(node.hostVeth))) {
      // A namespace left without its link (a half-made start) gets a fresh pair.
      await inNode(node, ['link', 'del', NODE_INTERFACE]).catch(() => '')
      await ip(['link', 'add', node.hostVeth, 'type', 'veth', 'peer', 'name', NODE_INTERFACE, 'netns', node.netns])
      await ip(['link', 'set', node.hostVeth, 'master', net.bridge])
      await inNode(node, ['addr', 'add', `${node.address}/24`, 'dev', NODE_INTERFACE])
    }
    await ip(['link', 'set', node.hostVeth, 'up'])
    await inNode(node, ['link', 'set', 'lo', 'up'])
    await inNode(node, ['link', 'set', NODE_INTERFACE, 'up'])
  }
}

/** Cuts a node off the bridge (its link down) or joins it again: a partition, for the chaos runs. */
export async function setNodeLink(node: ClusterNodeNet, up: boolean): Promise<void> {
  await ip(['link', 'set', node.hostVeth, up ? 'up' : 'down'])
}

/** Deletes every namespace and link ensureClusterNet made (the veth pairs go with their namespaces). */
export async function removeClusterNet(net: ClusterNet, progress: (m: string) => void): Promise<void> {
  for (const node of net.nodes) {
    if (await exists(node.netnsPath)) {
      await ip(['netns', 'del', node.netns])
      progress(`network: removed namespace ${node.netns}`)
    }
    if (await linkExists(node.hostVeth)) await ip(['link', 'del', node.hostVeth])
  }
  if (await linkExists(net.bridge)) {
    await ip(['link', 'del', net.bridge])
    progress(`network: removed bridge ${net.bridge}`)
  }
}
