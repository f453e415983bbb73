// Configuration of the local lean cloud: read from the environment once,
// validated, and frozen. Every port, path and name the agents use comes from here.
import { createHash } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from './errors.ts'

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
  readonly nomad: { readonly httpPort: number; readonly rpcPort: number; readonly serfPort: number }
  readonly minio: { readonly apiPort: number; readonly consolePort: number; readonly buckets: readonly string[] }
  readonly postgres: { readonly port: number; readonly database: string; readonly user: string }
  /** The SMTP server; `from` is the sender the wasm driver's mail capability uses. */
  readonly smtp: { readonly port: number; readonly from: string }
  /** How long `up` waits for one agent to become healthy. */
  readonly startTimeoutMs: number
}

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// One table of defaults: variable name → default value.
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
  LEAN_CLOUD_MINIO_API_PORT: '9000',
  LEAN_CLOUD_MINIO_CONSOLE_PORT: '9001',
  LEAN_CLOUD_POSTGRES_PORT: '15432',
  LEAN_CLOUD_POSTGRES_DATABASE: 'lean_cloud',
  LEAN_CLOUD_SMTP_PORT: '2525',
  LEAN_CLOUD_START_TIMEOUT_SECONDS: '120',
} as const

type VarName = keyof typeof defaults

function read(env: NodeJS.ProcessEnv, name: VarName): string {
  const value = env[name]
  return value === undefined || value === '' ? defaults[name] : value
}

function port(env: NodeJS.ProcessEnv, name: VarName): number {
  const raw = read(env, name)
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < 1 || value > 65535) {
    throw new ConfigError(name, `expected a TCP port between 1 and 65535, got '${raw}'`)
  }
  return value
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

function postgresDir(env: NodeJS.ProcessEnv, dataDir: string): string {
  const explicit = env.LEAN_CLOUD_POSTGRES_DATA_DIR
  if (explicit) return path.resolve(explicit)
  // PostgreSQL refuses to run as root, so as root it runs as the `postgres`
  // user, which usually cannot enter /root. Give it a directory of its own,
  // one per data dir so two checkouts never share a cluster.
  if (process.getuid?.() === 0) {
    const tag = createHash('sha256').update(dataDir).digest('hex').slice(0, 10)
    return path.join('/var/lib/lean-cloud', `postgres-${tag}`)
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
    },
    minio: {
      apiPort: port(env, 'LEAN_CLOUD_MINIO_API_PORT'),
      consolePort: port(env, 'LEAN_CLOUD_MINIO_CONSOLE_PORT'),
      buckets: ['artifacts', 'cloud-pdfs'],
    },
    postgres: {
      port: port(env, 'LEAN_CLOUD_POSTGRES_PORT'),
      database: identifier(env, 'LEAN_CLOUD_POSTGRES_DATABASE'),
      user: 'lean_cloud',
    },
    smtp: {
      port: port(env, 'LEAN_CLOUD_SMTP_PORT'),
      from: 'Lean Cloud <pdf@lean-cloud.localhost>',
    },
    startTimeoutMs: timeout * 1000,
  }
  assertDistinctPorts(config)
  return deepFreeze(config)
}

function assertDistinctPorts(config: CloudConfig): void {
  const seen = new Map<number, string>()
  const all: Array<[string, number]> = [
    ...Object.entries(config.consul).map(([k, v]): [string, number] => [`consul.${k}`, v]),
    ...Object.entries(config.nomad).map(([k, v]): [string, number] => [`nomad.${k}`, v]),
    ['minio.apiPort', config.minio.apiPort],
    ['minio.consolePort', config.minio.consolePort],
    ['postgres.port', config.postgres.port],
    ['smtp.port', config.smtp.port],
  ]
  for (const [name, value] of all) {
    const other = seen.get(value)
    if (other) throw new ConfigError(name, `port ${value} is already used by ${other}`)
    seen.set(value, name)
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
  return {
    logs: path.join(d, 'logs'),
    run: path.join(d, 'run'),
    envFile: path.join(d, 'cloud.env'),
    credentials: path.join(d, 'credentials.json'),
    consulData: path.join(d, 'consul'),
    nomadData: path.join(d, 'nomad', 'data'),
    nomadConfig: path.join(d, 'nomad', 'agent.hcl'),
    nomadPlugins: path.join(d, 'nomad', 'plugins'),
    minioData: path.join(d, 'minio'),
    /** Where the SMTP server delivers every message (Maildir: tmp/, new/, cur/). */
    maildir: path.join(d, 'maildir'),
  }
}
