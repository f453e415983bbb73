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
import { loadConfig, type CloudConfig } from '../cloud/config.ts'
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
  /** The shared services (S3, PostgreSQL, SMTP, libvirt) on the services server: no `node`, as in cluster.ts. */
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
  return { inventory, servers, shared: { ...base, host: servicesHost }, first: servers[0]! }
}

/** The same config with every file under `root` (the render's CA folder) instead of the server's data dir. */
export function underRoot(config: CloudConfig, root: string): CloudConfig {
  return { ...config, dataDir: root, ...(config.node && { node: { ...config.node, rootDir: root } }) }
}

/** A server's plan by name. */
export function serverPlan(plan: ClusterPlan, name: string): ServerPlan | undefined {
  return plan.servers.find((s) => s.server.name === name)
}
