// Credentials of the local cloud: generated on first start, kept in the data
// dir (mode 0600) and published to the other parts through cloud.env.
import { randomBytes, randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { layout, servicesHost, type CloudConfig } from './config.ts'
import { readTextIfExists, writeFileAtomic } from './files.ts'
import type { IssuedTokens } from './issued-tokens.ts'

export interface Credentials {
  /** The S3 administrator: creates buckets; the operator's key in cloud.env. */
  readonly s3AccessKey: string
  readonly s3SecretKey: string
  /** The S3 user that publishes components (write to `artifacts` only). */
  readonly s3PublisherAccessKey: string
  readonly s3PublisherSecretKey: string
  /** The drivers' fetch-only S3 user: reads and lists `artifacts` (components, VM images), nothing else. */
  readonly s3DriverAccessKey: string
  readonly s3DriverSecretKey: string
  /** Each data bucket's own S3 keys are derived from this (agents/s3.ts s3BucketCredentials). */
  readonly s3BucketKeySeed: string
  /** The S3 server's internal JWT signing keys are derived from this (agents/s3-security.ts). */
  readonly s3JwtSeed: string
  readonly postgresPassword: string
  /** The services' role (lean_writer). */
  readonly postgresWriterPassword: string
  /** Consul's initial management token (ACLs deny by default): operators, Nomad, the tests. */
  readonly consulManagementToken: string
  /** The token Consul answers DNS (and other anonymous reads) with: read services and nodes only. */
  readonly consulDnsToken: string
  /** The cloud's controller in Consul: reads its apps prefix, writes its status prefix and leader key. */
  readonly consulControllerToken: string
  /** Nomad's own Consul token: registers services and reads the catalog, nothing else. */
  readonly consulNomadToken: string
  /** Nomad's bootstrap (management) token: operators, the controller, the tests. */
  readonly nomadManagementToken: string
  /** Nomad's gossip encryption key (32 bytes, base64). */
  readonly nomadGossipKey: string
  /** Consul's gossip encryption key (32 bytes, base64). */
  readonly consulGossipKey: string
  /** Marks the PostgreSQL cluster made with these credentials (it lives outside the data dir). */
  readonly postgresClusterId: string
}

function secret(bytes: number): string {
  return randomBytes(bytes).toString('base64url')
}

// How each credential is made. A stored file that lacks one (written by an
// earlier version) gets it added; every secret already stored is kept.
const generators: { readonly [K in keyof Credentials]: () => string } = {
  s3AccessKey: () => `lean-admin-${secret(6)}`,
  s3SecretKey: () => secret(24),
  s3PublisherAccessKey: () => `lean-publisher-${secret(6)}`,
  s3PublisherSecretKey: () => secret(24),
  s3DriverAccessKey: () => `lean-driver-${secret(6)}`,
  s3DriverSecretKey: () => secret(24),
  s3BucketKeySeed: () => secret(32),
  s3JwtSeed: () => secret(32),
  postgresPassword: () => secret(18),
  postgresWriterPassword: () => secret(18),
  postgresClusterId: () => secret(9),
  // Consul token secrets are UUIDs.
  consulManagementToken: () => randomUUID(),
  consulDnsToken: () => randomUUID(),
  consulControllerToken: () => randomUUID(),
  consulNomadToken: () => randomUUID(),
  consulGossipKey: () => randomBytes(32).toString('base64'),
  nomadManagementToken: () => randomUUID(),
  nomadGossipKey: () => randomBytes(32).toString('base64'),
}

function writePrivate(file: string, contents: string): Promise<void> {
  return writeFileAtomic(file, contents, 0o600)
}

export async function loadOrCreateCredentials(config: CloudConfig): Promise<Credentials> {
  const file = layout(config).credentials
  let stored: Partial<Record<keyof Credentials, unknown>> = {}
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as typeof stored
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  let added = false
  const entries = (Object.keys(generators) as Array<keyof Credentials>).map((key) => {
    const value = stored[key]
    if (typeof value === 'string' && value !== '') return [key, value]
    added = true
    return [key, generators[key]()]
  })
  const credentials = Object.fromEntries(entries) as unknown as Credentials
  if (added) await writePrivate(file, `${JSON.stringify(credentials, null, 2)}\n`)
  return credentials
}

/**
 * A URL of the cloud's database as `user`: TLS with full verification
 * against the cloud's CA, in the URL alone (psql and node-postgres read both
 * parameters; a client must not add an `ssl` object of its own, which the URL's
 * would replace).
 */
export function databaseUrl(config: CloudConfig, user: string, password: string): string {
  const ca = encodeURIComponent(layout(config).tls.caCert).replace(/%2F/g, '/')
  return `postgres://${user}:${encodeURIComponent(password)}@${servicesHost(config)}:${config.postgres.port}/${config.postgres.database}?sslmode=verify-full&sslrootcert=${ca}`
}

/**
 * The variables every other part of the project reads to find the cloud.
 * The CONSUL_/NOMAD_ ones are the operator's (management tokens: leanctl,
 * the consul and nomad CLIs); the controller runs with LEAN_CONTROLLER_*
 * given as its CONSUL_HTTP_TOKEN and NOMAD_TOKEN.
 */
export function cloudEnv(config: CloudConfig, creds: Credentials, issued: IssuedTokens = {}): Record<string, string> {
  const h = config.host
  // S3, PostgreSQL and SMTP: on the host itself, or a cluster's gateway.
  const s = servicesHost(config)
  const ca = layout(config).tls.caCert
  return {
    // HTTPS only, with the cloud's own CA (infra/cloud/tls.ts): the consul and
    // nomad CLIs, leanctl, the controller and the tests trust it through *_CACERT.
    CONSUL_HTTP_ADDR: `https://${h}:${config.consul.httpPort}`,
    CONSUL_HTTP_SSL: 'true',
    CONSUL_CACERT: ca,
    CONSUL_DNS_ADDR: `${h}:${config.consul.dnsPort}`,
    // Consul denies by default: every consul, leanctl, controller and test call carries this.
    CONSUL_HTTP_TOKEN: creds.consulManagementToken,
    NOMAD_ADDR: `https://${h}:${config.nomad.httpPort}`,
    NOMAD_CACERT: ca,
    // Nomad's ACLs are on too: the nomad CLI, the controller and the tests carry this.
    NOMAD_TOKEN: creds.nomadManagementToken,
    // Managed jobs live in their own namespace: `nomad job status` lists them.
    NOMAD_NAMESPACE: config.controller.namespace,
    // The controller's least-privilege tokens (infra/cloud/identities.ts).
    LEAN_CONTROLLER_CONSUL_TOKEN: creds.consulControllerToken,
    ...(issued.nomadController && { LEAN_CONTROLLER_NOMAD_TOKEN: issued.nomadController.secretId }),
    // The shared services speak TLS only, with certificates of the same CA: S3
    // HTTPS, PostgreSQL verify-full (the CA file in the URL), SMTP STARTTLS.
    S3_ENDPOINT: `https://${s}:${config.s3.port}`,
    S3_CACERT: ca,
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY: creds.s3AccessKey,
    S3_SECRET_KEY: creds.s3SecretKey,
    S3_PUBLISHER_ACCESS_KEY: creds.s3PublisherAccessKey,
    S3_PUBLISHER_SECRET_KEY: creds.s3PublisherSecretKey,
    // The owner, for operators and migrations (psql "$DATABASE_URL").
    DATABASE_URL: databaseUrl(config, config.postgres.user, creds.postgresPassword),
    // The services' role: insert and update request logs, outbox and mail rows, nothing else.
    DATABASE_WRITER_URL: databaseUrl(config, config.postgres.writer, creds.postgresWriterPassword),
    SMTP_ADDR: `${s}:${config.smtp.port}`,
    SMTP_CACERT: ca,
    // Where the ingress listens (cloud:up keeps it; see jobs/ingress.ts): http://<app>.lean.localhost:<port>/
    INGRESS_ADDR: `${h}:${config.ingress.port}`,
    MAILDIR: layout(config).maildir,
    LEAN_CLOUD_DATA_DIR: config.node?.rootDir ?? config.dataDir,
  }
}

export async function writeEnvFile(config: CloudConfig, env: Record<string, string>): Promise<string> {
  const file = layout(config).envFile
  const lines = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  await writePrivate(file, `# Written by 'npm run cloud:up'. Source it: set -a; . ${file}; set +a\n${lines.join('\n')}\n`)
  return file
}

/** Parses a cloud.env file; returns undefined when it does not exist. */
export async function readEnvFile(file: string): Promise<Record<string, string> | undefined> {
  const text = await readTextIfExists(file)
  if (text === undefined) return undefined
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line)
    if (match) env[match[1]!] = match[2]!
  }
  return env
}
