// The host firewall of a cluster on one machine: what a node may reach on the
// host through its bridge. The host's address on the bridge is the gateway,
// but the host answers there on every address it listens on (0.0.0.0, ::, the
// link-local address of the bridge), so without this a task in a node could
// open any service of the machine. One nftables table per cluster, named after
// its tag, so it never touches the machine's other rules:
//
// - into the host from the bridge: replies, ICMP, and new TCP connections to
//   the shared services' ports on the gateway; everything else is dropped;
// - forwarded: only bridge to bridge (node to node, which the host's IP hooks
//   see only with br_netfilter's bridge-nf-call-iptables on); nothing between
//   the bridge and any other interface, even with ip_forward on.
//
// An nftables drop is final in every table, an accept only in its own: the
// table can only take away, never open what another firewall closes. The drops
// count what they drop (`nft list table inet lean_<tag>`).
import { execFile } from 'node:child_process'
import type { ClusterNet } from './cluster-network.ts'
import { CloudError } from './errors.ts'

/** Runs nft with these arguments and `script` on its stdin; resolves to its stdout. */
export type Nft = (args: readonly string[], script?: string) => Promise<string>

/** nft on this machine; its error has code ENOENT when nft is not installed. */
export const hostNft: Nft = (args, script) =>
  new Promise((resolve, reject) => {
    const child = execFile('nft', [...args], (err, stdout, stderr) => {
      if (!err) return resolve(stdout)
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
      const why = missing
        ? 'the nft command is missing (Debian package nftables; bash infra/prerequisites.sh installs it)'
        : (stderr || err.message).trim()
      reject(Object.assign(new Error(why), { code: missing ? 'ENOENT' : 'EFAILED' }))
    })
    // nft may exit before it reads (a list, a refusal): its exit status tells, not the pipe.
    child.stdin?.on('error', () => {})
    if (script === undefined) child.stdin?.end()
    else child.stdin?.end(script)
  })

function checkPorts(ports: readonly number[]): number[] {
  const bad = ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535)
  if (bad !== undefined)
    throw new CloudError('LEAN_ERR_CLOUD_NETWORK', `the cluster's firewall: ${bad} is not a TCP port`)
  if (ports.length === 0)
    throw new CloudError(
      'LEAN_ERR_CLOUD_NETWORK',
      "the cluster's firewall: no shared service port to let the nodes reach",
    )
  return [...new Set(ports)].sort((a, b) => a - b)
}

/**
 * The nft script that puts the cluster's table in place, replacing the one
 * there in the same transaction (the first two lines make sure there is one to
 * delete), so that applying it again never leaves a moment without the rules.
 * `ports`: the TCP ports a node may open on the gateway.
 */
export function renderClusterFirewall(net: ClusterNet, ports: readonly number[]): string {
  const table = `inet ${net.firewallTable}`
  const bridge = JSON.stringify(net.bridge)
  return `table ${table}
delete table ${table}
table ${table} {
\tcomment ${JSON.stringify(`Lean Cloud: what the nodes on ${net.bridge} reach on this machine; cloud:down removes it`)}

\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname ${bridge} jump from_nodes
\t}

\tchain from_nodes {
\t\tct state established,related accept
\t\tmeta l4proto { icmp, ipv6-icmp } accept
\t\tip daddr ${net.gateway} tcp dport { ${checkPorts(ports).join(', ')} } accept
\t\tcounter drop
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname ${bridge} oifname ${bridge} counter accept
\t\tiifname ${bridge} counter drop
\t\toifname ${bridge} counter drop
\t}
}
`
}

/** The nft script that deletes the cluster's table, whether or not it is there. */
export function renderClusterFirewallRemoval(net: ClusterNet): string {
  return `table inet ${net.firewallTable}\ndelete table inet ${net.firewallTable}\n`
}

/** Whether the cluster's table is in the kernel; nft's own failure is thrown. */
async function tableExists(net: ClusterNet, nft: Nft): Promise<boolean> {
  const tables = await nft(['list', 'tables', 'inet'])
  return tables.split('\n').some((line) => line.trim() === `table inet ${net.firewallTable}`)
}

const failure = (what: string, net: ClusterNet, err: unknown) =>
  new CloudError(
    'LEAN_ERR_CLOUD_NETWORK',
    `could not ${what} the cluster's host firewall (nftables table inet ${net.firewallTable}): ${(err as Error).message}`,
    { cause: err },
  )

/**
 * Puts the cluster's firewall in place (or renews it). Throws
 * LEAN_ERR_CLOUD_NETWORK when nft is missing or refuses: a cluster must not
 * run without it.
 */
export async function applyClusterFirewall(
  net: ClusterNet,
  ports: readonly number[],
  progress: (m: string) => void,
  nft: Nft = hostNft,
): Promise<void> {
  const script = renderClusterFirewall(net, ports)
  try {
    const existed = await tableExists(net, nft)
    await nft(['-f', '-'], script)
    if (!existed)
      progress(
        `network: firewall inet ${net.firewallTable}: nodes reach only TCP ${checkPorts(ports).join(', ')} on ${net.gateway} of this machine, nothing is forwarded`,
      )
  } catch (err) {
    throw failure('install', net, err)
  }
}

/** Deletes the cluster's firewall; nothing when there is none (nor nft to have made one). */
export async function removeClusterFirewall(
  net: ClusterNet,
  progress: (m: string) => void,
  nft: Nft = hostNft,
): Promise<void> {
  try {
    if (!(await tableExists(net, nft))) return
    await nft(['-f', '-'], renderClusterFirewallRemoval(net))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw failure('remove', net, err)
  }
  progress(`network: removed firewall inet ${net.firewallTable}`)
}
