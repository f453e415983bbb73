// PostgreSQL from Debian's packages, run as a private cluster on its own port
// (never the system service), so nothing else on the machine is disturbed.
// TLS only: it serves a certificate of the cloud's CA, and its pg_hba.conf
// admits password logins over TLS alone, from any address it listens on.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { access, chmod, chown, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { layout, type CloudConfig } from '../config.ts'
import type { Credentials } from '../credentials.ts'
import { CloudError } from '../errors.ts'
import { migrate } from '../migrate.ts'
import type { Agent, AgentContext } from '../agent.ts'
import { serviceCertFiles } from '../tls.ts'
import { servesOtherCertificate } from '../tls-probe.ts'

const run = promisify(execFile)

interface PostgresInstall {
  readonly bin: string
  readonly version: string
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file)
    return true
  } catch {
    return false
  }
}

/** The newest server under /usr/lib/postgresql, as Debian lays it out. */
async function findInstall(): Promise<PostgresInstall | undefined> {
  let versions: string[]
  try {
    versions = (await readdir('/usr/lib/postgresql')).filter((v) => /^\d+$/.test(v))
  } catch {
    return undefined
  }
  versions.sort((a, b) => Number(b) - Number(a))
  for (const version of versions) {
    const bin = `/usr/lib/postgresql/${version}/bin`
    if ((await exists(`${bin}/postgres`)) && (await exists(`${bin}/initdb`))) return { bin, version }
  }
  return undefined
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` user. */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const passwd = await readFile('/etc/passwd', 'utf8')
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'))
  if (!line) throw new CloudError('LEAN_ERR_CLOUD_START', 'running as root, but there is no postgres user to run PostgreSQL as')
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/**
 * pg_hba.conf: scram-sha-256 password logins over TLS only, from any address
 * (the server listens on the cloud's address alone: listen_addresses). A
 * connection without TLS matches no line and is refused, from loopback too;
 * there is no Unix socket (unix_socket_directories is empty).
 */
export const PG_HBA = [
  "# Written by 'npm run cloud:up' (infra/cloud/agents/postgres.ts); edits are overwritten.",
  '# TYPE   DATABASE USER ADDRESS   METHOD',
  'hostssl  all      all  0.0.0.0/0 scram-sha-256',
  'hostssl  all      all  ::/0      scram-sha-256',
  '',
].join('\n')

/** Where the server reads its certificate, key and pg_hba.conf: in its own cluster dir, owned by the user it runs as. */
export function postgresTlsFiles(config: CloudConfig) {
  const dir = config.postgresDataDir
  return { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), hba: path.join(dir, 'pg_hba.conf') }
}

/** The owner's connection: TLS verified against the cloud's CA (node-postgres checks the address as well). */
export function postgresClient(config: CloudConfig, creds: Credentials, database: string): pg.Client {
  return new pg.Client({
    host: config.host,
    port: config.postgres.port,
    user: config.postgres.user,
    password: creds.postgresPassword,
    database,
    connectionTimeoutMillis: 2000,
    ssl: { ca: readFileSync(layout(config).tls.caCert, 'utf8') },
  })
}

/**
 * Puts the service certificate and key of the cloud's CA (tls/postgres.pem)
 * and pg_hba.conf into the cluster dir: PostgreSQL wants its key owned by the
 * user it runs as and private (0600), and cannot read the data dir's tls/.
 */
async function installTls(config: CloudConfig): Promise<void> {
  const owner = await runAs()
  const from = serviceCertFiles(config, 'postgres')
  const to = postgresTlsFiles(config)
  await copyFile(from.cert, to.cert)
  await copyFile(from.key, to.key)
  await writeFile(to.hba, PG_HBA)
  for (const [file, mode] of [[to.cert, 0o644], [to.key, 0o600], [to.hba, 0o600]] as const) {
    await chmod(file, mode)
    if (owner) await chown(file, owner.uid, owner.gid)
  }
}

async function withClient<T>(config: CloudConfig, creds: Credentials, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = postgresClient(config, creds, database)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Makes the cluster on first start (or when it belongs to an earlier data dir's credentials). */
async function initCluster({ config, credentials, progress }: AgentContext): Promise<void> {
  const install = await findInstall()
  if (!install) throw new CloudError('LEAN_ERR_CLOUD_BINARY', 'PostgreSQL is not installed (infra/prerequisites.sh installs Debian package postgresql)')
  const dir = config.postgresDataDir
  const idFile = path.join(dir, 'lean-cloud-cluster-id')
  if (await exists(path.join(dir, 'PG_VERSION'))) {
    const id = await readFile(idFile, 'utf8').catch(() => '')
    if (id.trim() === credentials.postgresClusterId) return
    // The cluster was made for an earlier data dir at this path, whose
    // credentials are gone: nobody can log in to it any more.
    progress(`the PostgreSQL cluster in ${dir} belongs to an earlier data dir (its credentials are gone); re-initialising it`)
  }
  const owner = await runAs()
  progress(`initialising a private PostgreSQL ${install.version} cluster in ${dir}`)
  await rm(dir, { recursive: true, force: true })
  // The parent must stay traversable for the postgres user; only the cluster dir is private.
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 })
  await mkdir(dir, { mode: 0o700 })
  const pwfile = `${dir}.pw`
  await writeFile(pwfile, `${credentials.postgresPassword}\n`, { mode: 0o600 })
  if (owner) {
    await chown(dir, owner.uid, owner.gid)
    await chown(pwfile, owner.uid, owner.gid)
  }
  try {
    await run(
      `${install.bin}/initdb`,
      ['-D', dir, '-U', config.postgres.user, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-locale'],
      { ...(owner ?? {}), cwd: '/', maxBuffer: 16 << 20 },
    )
  } catch (err) {
    throw new CloudError('LEAN_ERR_CLOUD_START', `initdb failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, { cause: err })
  } finally {
    await rm(pwfile, { force: true })
  }
  await writeFile(idFile, `${credentials.postgresClusterId}\n`)
}

/** The server's arguments: its cluster, port and address, TLS, and our pg_hba (also the real servers' unit, infra/servers). */
export function postgresArgs(config: CloudConfig): string[] {
  const tls = postgresTlsFiles(config)
  return [
    ...['-D', config.postgresDataDir, '-p', String(config.postgres.port)],
    ...['-c', `listen_addresses=${config.host}`, '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    ...['-c', 'ssl=on', '-c', `ssl_cert_file=${tls.cert}`, '-c', `ssl_key_file=${tls.key}`, '-c', `hba_file=${tls.hba}`],
  ]
}

export const postgresAgent: Agent = {
  name: 'postgres',
  programs: [],
  // Serves a certificate of the cloud's CA: restarted when it is renewed.
  usesTls: true,
  ports: (c) => [c.postgres.port],
  stopSignal: 'SIGINT', // "fast" shutdown: roll back open transactions, then exit
  stopGraceMs: 15_000,

  async prepare(ctx: AgentContext) {
    await initCluster(ctx)
    await installTls(ctx.config)
  },

  async restartReason({ config }) {
    const hba = await readFile(postgresTlsFiles(config).hba, 'utf8').catch(() => '')
    if (hba !== PG_HBA) return `its ${postgresTlsFiles(config).hba} is out of date`
    const served = await servesOtherCertificate(config.host, config.postgres.port, 'postgres', { caFile: layout(config).tls.caCert, certFile: serviceCertFiles(config, 'postgres').cert })
    return served && `TLS: ${served}`
  },

  async spawnSpec({ config }) {
    const install = await findInstall()
    if (!install) throw new CloudError('LEAN_ERR_CLOUD_BINARY', 'PostgreSQL is not installed')
    const owner = await runAs()
    return {
      command: `${install.bin}/postgres`,
      args: postgresArgs(config),
      cwd: '/',
      ...(owner ?? {}),
    }
  },

  async health({ config, credentials }) {
    const version = await withClient(config, credentials, 'postgres', async (c) => (await c.query('SHOW server_version')).rows[0].server_version as string)
    return `PostgreSQL ${version} accepting TLS on ${config.host}:${config.postgres.port}`
  },
  async ensureResources({ config, credentials, progress }) {
    const db = config.postgres.database
    await withClient(config, credentials, 'postgres', async (c) => {
      const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])
      if (found.rowCount === 0) await c.query(`CREATE DATABASE ${db}`) // db is a validated identifier
    })
    const applied = await withClient(config, credentials, db, async (c) => {
      const versions = await migrate(c, path.join(config.repoDir, 'infra', 'postgres', 'migrations'))
      // The writer role (003_writer_role.sql) logs in with its own password, set on every start so it follows credentials.json.
      await c.query(`ALTER ROLE ${config.postgres.writer} WITH LOGIN PASSWORD ${c.escapeLiteral(credentials.postgresWriterPassword)}`)
      return versions
    })
    if (applied.length > 0) progress(`applied migrations ${applied.join(', ')} to ${db}`)
  },
}
