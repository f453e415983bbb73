// Configuration of the local lean cloud: read from the environment once,
// validated, and frozen. Every port, path and name the agents use comes from here.
import { ARTIFACTS_BUCKET, PDF_BUCKET, SCRATCH_BUCKET } from '../../ground/buckets.ts'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from './errors.ts'
import { loadControllerKeys, type ControllerKeys } from '../../ground/kv-layout.ts'

export interface CloudConfig {
  /** Root of all agent state, logs, pid files and the generated env file. */
  readonly dataDir: string
  /** PostgreSQL's cluster directory; it must be reachable by the user postgres runs as. */
  readonly postgresDataDir: string
  /** Repository root, used to find the binary build script and migrations. */
  readonly repoDir: string
  readonly host: string
  readonly consul: {
    readonly httpPort: number
    readonly dnsPort: number
    readonly serverPort: number
    readonly serfLanPort: number
    readonly serfWanPort: number
    readonly grpcPort: number
  }
  readonly nomad: {
    readonly httpPort: number
    readonly rpcPort: number
    readonly serfPort: number
    /** Host ports Nomad hands to allocations; two clouds on one host need disjoint ranges. */
    readonly dynamicPorts: { readonly min: number; readonly max: number }
    /** The cgroup under which this cloud's Nomad client puts its tasks, one per cloud. */
    readonly cgroupParent: string
    /** The cloud's own jobs (the ingress): the only namespace where raw_exec runs (infra/cloud/nomad-system.ts). */
    readonly systemNamespace: string
  }
  /**
   * The S3 server (SeaweedFS). Only `port` is the S3 API; the others are its
   * internal master, volume and filer servers, and their gRPC ports.
   */
  readonly s3: {
    readonly port: number
    readonly masterPort: number
    readonly volumePort: number
    readonly filerPort: number
    readonly masterGrpcPort: number
    readonly volumeGrpcPort: number
    readonly filerGrpcPort: number
    readonly s3GrpcPort: number
    readonly buckets: readonly string[]
  }
  /** `user` owns the database (operators, migrations); `writer` is the services' role (003_writer_role.sql). */
  readonly postgres: { readonly port: number; readonly database: string; readonly user: string; readonly writer: string }
  /** The SMTP server; `from` is the sender the wasm driver's mail capability uses. */
  readonly smtp: { readonly port: number; readonly from: string }
  /**
   * The ingress (HAProxy, a Nomad system job cloud:up registers in the system
   * namespace, jobs/ingress.ts): the fixed port of `http://<app>.lean.localhost:<port>/`.
   */
  readonly ingress: { readonly port: number }
  /**
   * What the cloud's controller may touch, for its least-privilege tokens:
   * its keys in Consul KV (the controller's own LEAN_APPS_PREFIX,
   * LEAN_STATUS_PREFIX, LEAN_LEADER_KEY) and the Nomad namespace of the
   * managed jobs (cloud.env's NOMAD_NAMESPACE).
   */
  readonly controller: ControllerKeys & { readonly namespace: string }
  /** How long `up` waits for one agent to become healthy. */
  readonly startTimeoutMs: number
  /**
   * Set for one node of a cluster on this machine (infra/cloud/cluster.ts):
   * `host` is then the node's address and `dataDir` its own folder.
   */
  readonly node?: ClusterNodeConfig
  /**
   * Set for a cluster's shared services: the S3 server keeps no objects of
   * its own but two copies of each on the nodes' volume servers
   * (agents/s3-volume.ts), so losing a node loses none.
   */
  readonly objectsOnNodes?: boolean
}

/** What one node of a cluster knows besides a single cloud's config. */
export interface ClusterNodeConfig {
  /** n1, n2, …: its name in Consul and Nomad. */
  readonly name: string
  /** Its network namespace, entered with nsenter (a node on this machine); none on a real server. */
  readonly netnsPath?: string
  /** The interface Nomad takes allocation addresses from. */
  readonly networkInterface: string
  /** Every node's address, its own included: the servers to join. */
  readonly peers: readonly string[]
  /** The cluster's data dir: credentials, the CA, S3's data, the environment file. */
  readonly rootDir: string
  /** Where the shared services (S3, PostgreSQL, SMTP, the controllers' API) are reached: the bridge's gateway. */
  readonly servicesHost: string
  /**
   * This node's share of the machine's memory, so that N clients on one host
   * do not each promise all of it (a memory reservation is a hard limit); a
   * real server offers what Nomad fingerprints. CPU is not split: a CPU
   * reservation is a relative weight, and nodes on one machine share its
   * cores as VMs on a host share theirs.
   */
  readonly memoryTotalMB?: number
}

/** Where S3, PostgreSQL and SMTP listen for this config: the host itself, or a node's gateway. */
export const servicesHost = (config: CloudConfig): string => config.node?.servicesHost ?? config.host

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// One table of defaults: variable name → default value. Ports move together
// with LEAN_CLOUD_PORT_OFFSET (a second cloud on the same host, e.g. the tests').
const defaults = {
  LEAN_CLOUD_DATA_DIR: path.join(repoDir, '.lean-cloud'),
  LEAN_CLOUD_HOST: '127.0.0.1',
  LEAN_CLOUD_CONSUL_HTTP_PORT: '8500',
  LEAN_CLOUD_CONSUL_DNS_PORT: '8600',
  LEAN_CLOUD_CONSUL_SERVER_PORT: '8300',
  LEAN_CLOUD_CONSUL_SERF_LAN_PORT: '8301',
  LEAN_CLOUD_CONSUL_SERF_WAN_PORT: '8302',
  LEAN_CLOUD_CONSUL_GRPC_PORT: '8502',
  LEAN_CLOUD_NOMAD_HTTP_PORT: '4646',
  LEAN_CLOUD_NOMAD_RPC_PORT: '4647',
  LEAN_CLOUD_NOMAD_SERF_PORT: '4648',
  LEAN_CLOUD_NOMAD_DYNAMIC_PORTS: '20000-25999',
  LEAN_CLOUD_S3_PORT: '9000',
  LEAN_CLOUD_S3_MASTER_PORT: '9010',
  LEAN_CLOUD_S3_VOLUME_PORT: '9011',
  LEAN_CLOUD_S3_FILER_PORT: '9012',
  LEAN_CLOUD_S3_MASTER_GRPC_PORT: '9020',
  LEAN_CLOUD_S3_VOLUME_GRPC_PORT: '9021',
  LEAN_CLOUD_S3_FILER_GRPC_PORT: '9022',
  LEAN_CLOUD_S3_GRPC_PORT: '9023',
  LEAN_CLOUD_POSTGRES_PORT: '15432',
  LEAN_CLOUD_POSTGRES_DATABASE: 'lean_cloud',
  LEAN_CLOUD_SMTP_PORT: '2525',
  // Not 8080: that is the seeds' fixed PDF port (jobs/workloads.ts).
  LEAN_CLOUD_INGRESS_PORT: '8088',
  LEAN_CLOUD_START_TIMEOUT_SECONDS: '120',
  LEAN_CLOUD_NOMAD_NAMESPACE: 'lean',
  LEAN_CLOUD_PORT_OFFSET: '0',
} as const

type VarName = keyof typeof defaults

function read(env: NodeJS.ProcessEnv, name: VarName): string {
  const value = env[name]
  return value === undefined || value === '' ? defaults[name] : value
}

function portOffset(env: NodeJS.ProcessEnv): number {
  const raw = read(env, 'LEAN_CLOUD_PORT_OFFSET')
  if (!/^\d+$/.test(raw) || Number(raw) > 40000) {
    throw new ConfigError('LEAN_CLOUD_PORT_OFFSET', `expected a whole number from 0 to 40000, got '${raw}'`)
  }
  return Number(raw)
}

function port(env: NodeJS.ProcessEnv, name: VarName): number {
  const given = env[name]
  // An explicit port is taken as is; a default one moves with the offset.
  const raw = given === undefined || given === '' ? String(Number(defaults[name]) + portOffset(env)) : given
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < 1 || value > 65535) {
    throw new ConfigError(name, `expected a TCP port between 1 and 65535, got '${raw}'`)
  }
  return value
}

function portRange(env: NodeJS.ProcessEnv, name: VarName): { min: number; max: number } {
  const raw = read(env, name)
  const match = /^(\d+)-(\d+)$/.exec(raw)
  const min = Number(match?.[1])
  const max = Number(match?.[2])
  if (!match || min < 1024 || max > 65535 || max - min < 100) {
    throw new ConfigError(name, `expected a range such as 20000-25999 (1024-65535, at least 100 ports), got '${raw}'`)
  }
  return { min, max }
}

function identifier(env: NodeJS.ProcessEnv, name: VarName): string {
  const raw = read(env, name)
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) {
    throw new ConfigError(name, `expected a lower-case SQL identifier, got '${raw}'`)
  }
  return raw
}

function absolutePath(env: NodeJS.ProcessEnv, name: VarName): string {
  const raw = read(env, name)
  return path.resolve(raw)
}

function controllerKeys(env: NodeJS.ProcessEnv): ControllerKeys {
  return loadControllerKeys(env, (variable, reason) => {
    throw new ConfigError(variable, reason)
  })
}

function nomadNamespace(env: NodeJS.ProcessEnv): string {
  const raw = read(env, 'LEAN_CLOUD_NOMAD_NAMESPACE')
  if (!/^[a-z0-9-]{1,63}$/.test(raw) || raw === 'default') {
    throw new ConfigError('LEAN_CLOUD_NOMAD_NAMESPACE', `expected a namespace name of its own (a-z, 0-9, -; not 'default'), got '${raw}'`)
  }
  return raw
}

/** A short, stable tag of one cloud (its data dir), for names that live outside it. */
export function cloudTag(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 10)
}

function postgresDir(env: NodeJS.ProcessEnv, dataDir: string): string {
  const explicit = env.LEAN_CLOUD_POSTGRES_DATA_DIR
  if (explicit) return path.resolve(explicit)
  // PostgreSQL refuses to run as root, so as root it runs as the `postgres`
  // user, which usually cannot enter /root. Give it a directory of its own,
  // one per data dir so two checkouts never share a cluster.
  if (process.getuid?.() === 0) {
    return path.join('/var/lib/lean-cloud', `postgres-${cloudTag(dataDir)}`)
  }
  return path.join(dataDir, 'postgres')
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): CloudConfig {
  const dataDir = absolutePath(env, 'LEAN_CLOUD_DATA_DIR')
  const host = read(env, 'LEAN_CLOUD_HOST')
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) {
    throw new ConfigError('LEAN_CLOUD_HOST', `the local cloud binds loopback only; expected 127.x.y.z, got '${host}'`)
  }
  const timeoutRaw = read(env, 'LEAN_CLOUD_START_TIMEOUT_SECONDS')
  const timeout = Number(timeoutRaw)
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new ConfigError('LEAN_CLOUD_START_TIMEOUT_SECONDS', `expected a positive number, got '${timeoutRaw}'`)
  }
  const config: CloudConfig = {
    dataDir,
    postgresDataDir: postgresDir(env, dataDir),
    repoDir,
    host,
    consul: {
      httpPort: port(env, 'LEAN_CLOUD_CONSUL_HTTP_PORT'),
      dnsPort: port(env, 'LEAN_CLOUD_CONSUL_DNS_PORT'),
      serverPort: port(env, 'LEAN_CLOUD_CONSUL_SERVER_PORT'),
      serfLanPort: port(env, 'LEAN_CLOUD_CONSUL_SERF_LAN_PORT'),
      serfWanPort: port(env, 'LEAN_CLOUD_CONSUL_SERF_WAN_PORT'),
      grpcPort: port(env, 'LEAN_CLOUD_CONSUL_GRPC_PORT'),
    },
    nomad: {
      httpPort: port(env, 'LEAN_CLOUD_NOMAD_HTTP_PORT'),
      rpcPort: port(env, 'LEAN_CLOUD_NOMAD_RPC_PORT'),
      serfPort: port(env, 'LEAN_CLOUD_NOMAD_SERF_PORT'),
      dynamicPorts: portRange(env, 'LEAN_CLOUD_NOMAD_DYNAMIC_PORTS'),
      cgroupParent: `lean-cloud-${cloudTag(dataDir)}`,
      systemNamespace: `${nomadNamespace(env)}-system`,
    },
    s3: {
      port: port(env, 'LEAN_CLOUD_S3_PORT'),
      masterPort: port(env, 'LEAN_CLOUD_S3_MASTER_PORT'),
      volumePort: port(env, 'LEAN_CLOUD_S3_VOLUME_PORT'),
      filerPort: port(env, 'LEAN_CLOUD_S3_FILER_PORT'),
      masterGrpcPort: port(env, 'LEAN_CLOUD_S3_MASTER_GRPC_PORT'),
      volumeGrpcPort: port(env, 'LEAN_CLOUD_S3_VOLUME_GRPC_PORT'),
      filerGrpcPort: port(env, 'LEAN_CLOUD_S3_FILER_GRPC_PORT'),
      s3GrpcPort: port(env, 'LEAN_CLOUD_S3_GRPC_PORT'),
      // artifacts: components and images; every other bucket is a data bucket that tasks are
      // granted, each with its own S3 identity (agents/s3.ts). cloud-scratch: for apps' own data.
      buckets: [ARTIFACTS_BUCKET, PDF_BUCKET, SCRATCH_BUCKET],
    },
    postgres: {
      port: port(env, 'LEAN_CLOUD_POSTGRES_PORT'),
      database: identifier(env, 'LEAN_CLOUD_POSTGRES_DATABASE'),
      user: 'lean_cloud',
      writer: 'lean_writer',
    },
    smtp: {
      port: port(env, 'LEAN_CLOUD_SMTP_PORT'),
      from: 'Lean Cloud <pdf@lean-cloud.localhost>',
    },
    ingress: { port: port(env, 'LEAN_CLOUD_INGRESS_PORT') },
    controller: { ...controllerKeys(env), namespace: nomadNamespace(env) },
    startTimeoutMs: timeout * 1000,
  }
  assertDistinctPorts(config)
  return deepFreeze(config)
}

function assertDistinctPorts(config: CloudConfig): void {
  const seen = new Map<number, string>()
  const all: Array<[string, number]> = [
    ...Object.entries(config.consul).map(([k, v]): [string, number] => [`consul.${k}`, v]),
    ['nomad.httpPort', config.nomad.httpPort],
    ['nomad.rpcPort', config.nomad.rpcPort],
    ['nomad.serfPort', config.nomad.serfPort],
    ...Object.entries(config.s3)
      .filter((e): e is [string, number] => typeof e[1] === 'number')
      .map(([k, v]): [string, number] => [`s3.${k}`, v]),
    ['postgres.port', config.postgres.port],
    ['smtp.port', config.smtp.port],
    ['ingress.port', config.ingress.port],
  ]
  for (const [name, value] of all) {
    const other = seen.get(value)
    if (other) throw new ConfigError(name, `port ${value} is already used by ${other}`)
    seen.set(value, name)
    const { min, max } = config.nomad.dynamicPorts
    if (value >= min && value <= max) {
      throw new ConfigError(name, `port ${value} lies in Nomad's dynamic port range ${min}-${max} (LEAN_CLOUD_NOMAD_DYNAMIC_PORTS)`)
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

/** Paths inside the data dir, derived in one place. */
export function layout(config: CloudConfig) {
  const d = config.dataDir
  // A cluster's nodes share one root (credentials, CA, S3, env file); each has its own agents' state.
  const root = config.node?.rootDir ?? d
  const leafTls = config.node ? path.join(root, 'tls', config.node.name) : path.join(root, 'tls')
  return {
    logs: path.join(d, 'logs'),
    run: path.join(d, 'run'),
    envFile: path.join(root, 'cloud.env'),
    credentials: path.join(root, 'credentials.json'),
    /** Tokens Nomad issued to the cloud's identities (Nomad makes the secrets; 0600). */
    issuedTokens: path.join(root, 'issued-tokens.json'),
    consulData: path.join(d, 'consul'),
    nomadData: path.join(d, 'nomad', 'data'),
    nomadConfig: path.join(d, 'nomad', 'agent.hcl'),
    nomadPlugins: path.join(d, 'nomad', 'plugins'),
    s3Data: path.join(root, 's3'),
    /** SeaweedFS's S3 identities (one per user of S3, each limited to its buckets). */
    s3Identities: path.join(root, 's3', 'identities.json'),
    /** Where the SMTP server delivers every message (Maildir: tmp/, new/, cur/). */
    maildir: path.join(root, 'maildir'),
    /** The cloud's CA and the Consul and Nomad certificates it signs (infra/cloud/tls.ts). */
    tls: {
      dir: path.join(root, 'tls'),
      /** Where this node's (or the single cloud's) own certificates are. */
      leafDir: leafTls,
      caCert: path.join(root, 'tls', 'ca.pem'),
      caKey: path.join(root, 'tls', 'ca-key.pem'),
      consulCert: path.join(leafTls, 'consul.pem'),
      consulKey: path.join(leafTls, 'consul-key.pem'),
      nomadCert: path.join(leafTls, 'nomad.pem'),
      nomadKey: path.join(leafTls, 'nomad-key.pem'),
      /** The S3 server's own CA and its parts' certificates (owner only): nothing else trusts them. */
      s3: {
        dir: path.join(root, 'tls', 's3'),
        caCert: path.join(root, 'tls', 's3', 'ca.pem'),
        caKey: path.join(root, 'tls', 's3', 'ca-key.pem'),
        part: (part: string) => ({ cert: path.join(root, 'tls', 's3', `${part}.pem`), key: path.join(root, 'tls', 's3', `${part}-key.pem`) }),
        /** A cluster node's volume server: its certificate names the node's address. */
        nodeVolume: (node: string) => ({ cert: path.join(root, 'tls', 's3', node, 'volume.pem'), key: path.join(root, 'tls', 's3', node, 'volume-key.pem') }),
      },
    },
    /** SeaweedFS's security settings (JWT keys, mTLS), read from its working directory. */
    s3Security: path.join(root, 's3', 'security.toml'),
    /** A cluster node's S3 volume server: its objects and its own security.toml. */
    s3VolumeData: path.join(d, 's3-volume'),
  }
}
