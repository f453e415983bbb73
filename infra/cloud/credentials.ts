// Credentials of the local cloud: generated on first start, kept in the data
// dir (mode 0600) and published to the other parts through cloud.env.
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import path from 'node:path'
import { layout, type CloudConfig } from './config.ts'

export interface Credentials {
  readonly s3AccessKey: string
  readonly s3SecretKey: string
  readonly postgresPassword: string
  /** Marks the PostgreSQL cluster made with these credentials (it lives outside the data dir). */
  readonly postgresClusterId: string
}

function secret(bytes: number): string {
  return randomBytes(bytes).toString('base64url')
}

async function writePrivate(file: string, contents: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  // Write then rename, so a crash never leaves a half-written file behind.
  const partial = `${file}.partial`
  await writeFile(partial, contents, { mode: 0o600 })
  await rename(partial, file)
}

export async function loadOrCreateCredentials(config: CloudConfig): Promise<Credentials> {
  const file = layout(config).credentials
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as Partial<Credentials>
    if (stored.s3AccessKey && stored.s3SecretKey && stored.postgresPassword) {
      if (stored.postgresClusterId) return stored as Credentials
      // Written before cluster ids existed: add one, keep every secret.
      const upgraded = { ...(stored as Credentials), postgresClusterId: secret(9) }
      await writePrivate(file, `${JSON.stringify(upgraded, null, 2)}\n`)
      return upgraded
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const created: Credentials = {
    s3AccessKey: `lean-${secret(6)}`,
    s3SecretKey: secret(24),
    postgresPassword: secret(18),
    postgresClusterId: secret(9),
  }
  await writePrivate(file, `${JSON.stringify(created, null, 2)}\n`)
  return created
}

/** The variables every other part of the project reads to find the cloud. */
export function cloudEnv(config: CloudConfig, creds: Credentials): Record<string, string> {
  const h = config.host
  return {
    CONSUL_HTTP_ADDR: `http://${h}:${config.consul.httpPort}`,
    CONSUL_DNS_ADDR: `${h}:${config.consul.dnsPort}`,
    NOMAD_ADDR: `http://${h}:${config.nomad.httpPort}`,
    S3_ENDPOINT: `http://${h}:${config.minio.apiPort}`,
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY: creds.s3AccessKey,
    S3_SECRET_KEY: creds.s3SecretKey,
    DATABASE_URL: `postgres://${config.postgres.user}:${encodeURIComponent(creds.postgresPassword)}@${h}:${config.postgres.port}/${config.postgres.database}`,
    SMTP_ADDR: `${h}:${config.smtp.port}`,
    MAILDIR: layout(config).maildir,
    LEAN_CLOUD_DATA_DIR: config.dataDir,
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
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line)
    if (match) env[match[1]!] = match[2]!
  }
  return env
}
