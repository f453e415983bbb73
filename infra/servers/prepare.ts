// `cluster:prepare`, on each server as root, after its folder is in
// /etc/lean-cloud and before its units start: what `cloud:up` does before it
// starts an agent (the agents' own prepare steps), with the server's config.
import { execFile } from 'node:child_process'
import { chmod, chown, copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { libvirtAgent } from '../cloud/agents/libvirt.ts'
import { installedDriverDir, probeImageManifest, VIRT_PLUGIN_FILE, WASM_PLUGIN_FILE } from '../cloud/agents/nomad.ts'
import { postgresAgent } from '../cloud/agents/postgres.ts'
import { s3Agent } from '../cloud/agents/s3.ts'
import { s3VolumeSecurityFile } from '../cloud/agents/s3-volume.ts'
import { smtpAgent } from '../cloud/agents/smtp.ts'
import type { AgentContext } from '../cloud/agent.ts'
import { resolveBinaries } from '../cloud/binaries.ts'
import { layout, type CloudConfig } from '../cloud/config.ts'
import { loadOrCreateCredentials, type Credentials } from '../cloud/credentials.ts'
import { readTextIfExists } from '../cloud/files.ts'
import { buildDriver, virtLauncher } from '../../task-driver/build.ts'
import { ServersError } from './errors.ts'
import { serverPaths, type LinkedProgram } from './paths.ts'
import { s3TlsFiles, type ClusterPlan, type ServerPlan } from './plan.ts'
import { CONSUL_USER } from './units.ts'

const run = promisify(execFile)

async function link(target: string, file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  await rm(file, { force: true })
  await symlink(target, file)
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`))
  if (!line) throw new ServersError('LEAN_ERR_SERVERS_PREPARE', `there is no user ${name}`)
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/** The unprivileged user Consul runs as, with its data dir, its key and its config. */
async function consulUser(s: ServerPlan, progress: (m: string) => void): Promise<void> {
  if (!(await readFile('/etc/passwd', 'utf8')).split('\n').some((l) => l.startsWith(`${CONSUL_USER}:`))) {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', CONSUL_USER])
    progress(`made the system user ${CONSUL_USER}`)
  }
  const { uid, gid } = await userIds(CONSUL_USER)
  const data = layout(s.config).consulData
  await mkdir(data, { recursive: true, mode: 0o700 })
  await run('chown', ['-R', `${uid}:${gid}`, data])
  await chown(layout(s.config).tls.consulKey, 0, gid)
  await chmod(layout(s.config).tls.consulKey, 0o640)
}

/** /etc/lean-cloud/tls → dataDir/tls: the CA and this server's certificates readable, keys root's only. */
async function installTls(plan: ClusterPlan, s: ServerPlan): Promise<void> {
  const from = serverPaths(plan.inventory).tls
  const t = layout(s.config).tls
  const s3 = s3TlsFiles(plan, s)
  const files = [t.caCert, t.consulCert, t.consulKey, t.nomadCert, t.nomadKey, ...s3]
  await mkdir(t.dir, { recursive: true })
  await chmod(t.dir, 0o755)
  await mkdir(t.leafDir, { recursive: true })
  await chmod(t.leafDir, 0o755)
  for (const dir of new Set(s3.map((file) => path.dirname(file)))) await mkdir(dir, { recursive: true, mode: 0o700 })
  for (const file of files) {
    const source = path.join(from, path.relative(t.dir, file))
    await copyFile(source, file)
    await chmod(file, file.endsWith('-key.pem') || file.includes(`${path.sep}s3${path.sep}`) ? 0o600 : 0o644)
  }
}

/**
 * What s3VolumeAgent.prepare does, with the security settings rendered for
 * this server: only the services server holds the credentials they come from.
 */
async function prepareS3Volume(plan: ClusterPlan, s: ServerPlan): Promise<void> {
  const source = serverPaths(plan.inventory).s3VolumeSecurity
  await mkdir(layout(s.config).s3VolumeData, { recursive: true, mode: 0o700 })
  await copyFile(source, s3VolumeSecurityFile(s.config))
  await chmod(s3VolumeSecurityFile(s.config), 0o600)
}

/** Links the built programs, node and (on the services server) PostgreSQL's server to the paths the units name. */
async function linkPrograms(plan: ClusterPlan, s: ServerPlan, ctx: (config: CloudConfig) => AgentContext): Promise<void> {
  const p = serverPaths(plan.inventory)
  const built = await resolveBinaries(s.config, ['consul', 'nomad', 'seaweedfs', 'wasm-host'])
  const targets: Partial<Record<LinkedProgram, string>> = { ...built, node: process.execPath }
  if (s.services) {
    // postgresAgent's own spawn spec: the newest server Debian installed (the unit has the same postgresArgs).
    targets.postgres = (await postgresAgent.spawnSpec(ctx(plan.shared))).command
  }
  for (const [program, target] of Object.entries(targets) as Array<[LinkedProgram, string]>) await link(target, p.bin(program))
}

/** What nomadAgent.prepare does before it writes its config: the drivers in plugin_dir. Then the probe image nomad.hcl names. */
async function installDrivers(plan: ClusterPlan, s: ServerPlan): Promise<string> {
  const paths = layout(s.config)
  await mkdir(paths.nomadData, { recursive: true })
  await mkdir(paths.nomadPlugins, { recursive: true })
  const launcher = await buildDriver(installedDriverDir(s.config))
  await copyFile(launcher, path.join(paths.nomadPlugins, WASM_PLUGIN_FILE))
  await copyFile(virtLauncher(launcher), path.join(paths.nomadPlugins, VIRT_PLUGIN_FILE))
  const probe = await probeImageManifest()
  const hcl = (await readTextIfExists(serverPaths(plan.inventory).nomadConfig)) ?? ''
  const named = /probe_image\s*=\s*"([^"]+)"/.exec(hcl)?.[1]
  if (named !== probe)
    throw new ServersError('LEAN_ERR_SERVERS_PREPARE', `nomad.hcl names the probe image ${named ?? '(none)'}, but this checkout builds ${probe}: render again from the same commit`)
  return probe
}

/** Credentials of the cluster, from /etc/lean-cloud to dataDir (where the agents' code reads them). */
async function installCredentials(plan: ClusterPlan): Promise<Credentials> {
  const source = serverPaths(plan.inventory).credentials
  const text = await readTextIfExists(source)
  if (text === undefined) throw new ServersError('LEAN_ERR_SERVERS_PREPARE', `${source} is missing: copy the services server's rendered folder to ${serverPaths(plan.inventory).etc}`)
  const target = layout(plan.shared).credentials
  await mkdir(path.dirname(target), { recursive: true })
  await writeFile(target, text, { mode: 0o600 })
  return loadOrCreateCredentials(plan.shared)
}

export async function prepareServer(plan: ClusterPlan, s: ServerPlan, progress: (m: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) throw new ServersError('LEAN_ERR_SERVERS_PREPARE', 'cluster:prepare makes users, links and the agents\' dirs: run it as root')
  const p = serverPaths(plan.inventory)
  // The builds' cache (binaries, the image store) lives where the confined units may read it.
  process.env.LEAN_CLOUD_CACHE = p.cache
  await mkdir(plan.inventory.dataDir, { recursive: true })
  // The controller (an unprivileged user) reads the CA below it.
  await chmod(plan.inventory.dataDir, 0o755)
  await chmod(p.etc, 0o755)
  const credentials = s.services ? await installCredentials(plan) : undefined
  const ctx = (config: CloudConfig): AgentContext => ({ config, credentials: credentials!, binaries: {}, progress })
  await linkPrograms(plan, s, ctx)
  progress(`linked the programs into ${path.dirname(p.bin('node'))}`)
  progress(`installed the task drivers; the probe image is ${await installDrivers(plan, s)}`)
  await installTls(plan, s)
  await consulUser(s, progress)
  await chown(p.consulConfig, 0, (await userIds(CONSUL_USER)).gid)
  await chmod(p.consulConfig, 0o640)
  await libvirtAgent.prepare(ctx(s.config))
  if (s.services) {
    await postgresAgent.prepare(ctx(plan.shared))
    await s3Agent.prepare(ctx(plan.shared))
    await smtpAgent.prepare(ctx(plan.shared))
    progress('prepared PostgreSQL, S3 and SMTP')
  }
  if (plan.shared.objectsOnNodes) {
    await prepareS3Volume(plan, s)
    progress(`prepared the S3 volume server in ${layout(s.config).s3VolumeData}`)
  }
  progress(`${s.server.name} is ready for: systemctl enable --now, in JOIN.md's order`)
}
