// The configs of a cluster of real servers, built from an inventory the way
// infra/cloud/cluster.ts builds a node of the one-machine cluster: the single
// cloud's defaults, with the server's address as `host`, the inventory's
// dataDir, and a `node` section (no namespace, no share of the machine: a
// real server offers what Nomad fingerprints).
//
// Two kinds of config per server: the real one, whose paths are the server's
// (what the rendered agent configs name), and an out-dir one with the same
// names and addresses whose files lie under the render's output folder (where
// the CA signs the certificates and credentials.json is made).
import path from 'node:path'
import { layout, loadConfig, type CloudConfig } from '../cloud/config.ts'
import { s3VolumeCertFiles } from '../cloud/tls.ts'
import { servicesServer, type Inventory, type InventoryServer } from './inventory.ts'

/** Where a server keeps its rendered files: the units, agent configs and environment files. */
export const ETC_DIR = '/etc/lean-cloud'

export interface ServerPlan {
  readonly server: InventoryServer
  /** The server's Consul and Nomad agents, with the server's own paths. */
  readonly config: CloudConfig
  /** Whether it also runs the shared services. */
  readonly services: boolean
}

export interface ClusterPlan {
  readonly inventory: Inventory
  readonly servers: readonly ServerPlan[]
  /**
   * The shared services (S3, PostgreSQL, SMTP, libvirt) on the services server: no `node`, as in cluster.ts.
   * With two servers or more, `objectsOnNodes`: S3's objects live twice on the servers' volume servers.
   */
  readonly shared: CloudConfig
  /** The server whose agents bootstrap the ACLs and hold the cluster-wide resources. */
  readonly first: ServerPlan
}

/** The single cloud's defaults for a data dir (no environment read: the inventory says everything). */
function baseConfig(inventory: Inventory): CloudConfig {
  const base = loadConfig({ LEAN_CLOUD_DATA_DIR: inventory.dataDir })
  return {
    ...base,
    repoDir: inventory.installDir,
    // Not loadConfig's choice, which depends on who renders; PostgreSQL runs as `postgres`, which can enter dataDir.
    postgresDataDir: path.join(inventory.dataDir, 'postgres'),
  }
}

/** Every server's config, the shared services', and the first server. */
export function planServers(inventory: Inventory): ClusterPlan {
  const base = baseConfig(inventory)
  const peers = inventory.servers.map((s) => s.address)
  const servicesHost = servicesServer(inventory).address
  const servers = inventory.servers.map(
    (server): ServerPlan => ({
      server,
      services: server.name === inventory.services,
      config: {
        ...base,
        host: server.address,
        dataDir: inventory.dataDir,
        node: { name: server.name, networkInterface: server.interface, peers, rootDir: inventory.dataDir, servicesHost },
      },
    }),
  )
  // Two copies of each object need two volume servers: a single server keeps the all-in-one S3 server.
  const objectsOnNodes = servers.length >= 2
  return { inventory, servers, shared: { ...base, host: servicesHost, ...(objectsOnNodes && { objectsOnNodes }) }, first: servers[0]! }
}

/** The same config with every file under `root` (the render's CA folder) instead of the server's data dir. */
export function underRoot(config: CloudConfig, root: string): CloudConfig {
  return { ...config, dataDir: root, ...(config.node && { node: { ...config.node, rootDir: root } }) }
}

/**
 * The S3 files a server's units read (s3-security.ts names them), for the
 * configs `at` makes of the server's (its own paths, or underRoot's): the S3
 * CA's certificate, never its key; on the services server every part's
 * certificate and key; with the objects on the servers, on each the client's
 * (its volume server calls the others with it) and its volume server's own.
 */
export function s3TlsFiles(plan: ClusterPlan, s: ServerPlan, at: (config: CloudConfig) => CloudConfig = (c) => c): string[] {
  const t = layout(at(plan.shared)).tls.s3
  const parts = [...(s.services ? ['master', 'volume', 'filer'] : []), ...(s.services || plan.shared.objectsOnNodes ? ['client'] : [])]
  const own = plan.shared.objectsOnNodes ? [s3VolumeCertFiles(at(s.config))] : []
  const pairs = [...parts.map((part) => t.part(part)), ...own]
  return pairs.length === 0 ? [] : [t.caCert, ...pairs.flatMap((f) => [f.cert, f.key])]
}

/** A server's plan by name. */
export function serverPlan(plan: ClusterPlan, name: string): ServerPlan | undefined {
  return plan.servers.find((s) => s.server.name === name)
}
