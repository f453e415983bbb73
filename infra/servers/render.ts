// `cluster:render`: for each server of an inventory, the folder an operator
// copies to its /etc/lean-cloud: the Consul and Nomad agent configs and the
// S3 volume server's security settings, rendered by the local cloud's own
// functions (consulConfigFor, nomadConfigFor, s3SecurityToml) with the
// server's address and paths, its certificates from one CA, its environment
// files, its systemd units and JOIN.md.
//
// The render's own state stays in the output folder and is kept across runs:
// credentials.json (loadOrCreateCredentials) and ca/ (the CA and every
// certificate, ensureTls), so rendering again, for instance with a server
// added, changes no secret and no certificate that is still good.
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { consulConfigFor } from '../cloud/agents/consul.ts'
import { nomadConfigFor } from '../cloud/agents/nomad.ts'
import { s3SecurityToml } from '../cloud/agents/s3-security.ts'
import { layout, type CloudConfig } from '../cloud/config.ts'
import { loadOrCreateCredentials, type Credentials } from '../cloud/credentials.ts'
import { ensureTls, type TlsRenewal } from '../cloud/tls.ts'
import { controllerEnv, envFileText, operatorEnv } from './env-files.ts'
import type { Inventory } from './inventory.ts'
import { joinSteps } from './join.ts'
import { serverPaths } from './paths.ts'
import { planServers, s3TlsFiles, underRoot, type ClusterPlan, type ServerPlan } from './plan.ts'
import { serverUnits } from './units.ts'

export interface RenderOptions {
  /** The tiny VM image's manifest file name (<sha256>.json): the virt driver's probe image, built on each server by cluster:prepare. */
  readonly probeImage: string
}

export interface RenderResult {
  readonly plan: ClusterPlan
  /** Each server's folder. */
  readonly folders: readonly string[]
  /** Certificates made in this run, and why. */
  readonly tls: TlsRenewal
}

/** Where the render keeps the CA and all certificates (owner only); never copied to a server whole. */
export const caDir = (out: string) => path.join(out, 'ca')

async function put(file: string, text: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, text, { mode })
  await chmod(file, mode)
}

async function copy(from: string, to: string, mode: number): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true, mode: 0o700 })
  await copyFile(from, to)
  await chmod(to, mode)
}

/**
 * The certificates a server's agents read, copied from the CA folder to the
 * same places below the server folder's tls/ as below its dataDir/tls
 * (cluster:prepare installs them there). The CA's key stays behind.
 */
async function copyTls(plan: ClusterPlan, s: ServerPlan, out: string, folder: string): Promise<void> {
  const from = layout(underRoot(s.config, caDir(out))).tls
  const real = layout(s.config).tls
  const to = (file: string) => path.join(folder, 'tls', path.relative(real.dir, file))
  const pairs: Array<[string, string, number]> = [
    [from.caCert, real.caCert, 0o644],
    [from.consulCert, real.consulCert, 0o644],
    [from.consulKey, real.consulKey, 0o600],
    [from.nomadCert, real.nomadCert, 0o644],
    [from.nomadKey, real.nomadKey, 0o600],
  ]
  // The S3 server's own CA and the certificates of the S3 parts this server runs, not that CA's key.
  const s3 = s3TlsFiles(plan, s)
  s3TlsFiles(plan, s, (c) => underRoot(c, caDir(out))).forEach((source, i) => pairs.push([source, s3[i]!, 0o600]))
  for (const [source, target, mode] of pairs) await copy(source, to(target), mode)
}

async function renderServer(plan: ClusterPlan, s: ServerPlan, credentials: Credentials, out: string, options: RenderOptions): Promise<string> {
  const folder = path.join(out, s.server.name)
  const p = serverPaths(plan.inventory)
  await rm(folder, { recursive: true, force: true })
  await mkdir(folder, { recursive: true, mode: 0o700 })
  const generated = `Rendered by 'npm run cluster:render' for ${s.server.name} (${s.server.address}); install it as ${p.etc}.`
  // Owner only: the agent configs hold the management and gossip keys, the S3 keys and the database password.
  await put(path.join(folder, 'consul.json'), consulConfigFor(s.config, credentials), 0o600)
  await put(path.join(folder, 'nomad.hcl'), nomadConfigFor(s.config, credentials, path.join(p.imageStore, options.probeImage), p.bin('wasm-host')), 0o600)
  await put(path.join(folder, 'lean-cloud.env'), envFileText(`${generated} The operator's: set -a; . ${p.envFile}; set +a`, operatorEnv(s.config, credentials)), 0o600)
  await put(path.join(folder, 'controller.env'), envFileText(`${generated} The controller's (lean-controller.service).`, controllerEnv(s.config, credentials)), 0o600)
  await put(path.join(folder, 'inventory.json'), `${JSON.stringify(plan.inventory, null, 2)}\n`, 0o644)
  // Only the services server makes things from the secrets themselves (the database, S3's identities) and runs cluster:init.
  if (s.services) await put(path.join(folder, 'credentials.json'), `${JSON.stringify(credentials, null, 2)}\n`, 0o600)
  // The volume server's security settings are made here, from the credentials the other servers do not get.
  if (plan.shared.objectsOnNodes) await put(path.join(folder, path.basename(p.s3VolumeSecurity)), s3SecurityToml(s.config, credentials), 0o600)
  await copyTls(plan, s, out, folder)
  for (const unit of await serverUnits(plan, s, credentials)) await put(path.join(folder, 'systemd', unit.file), unit.text, 0o644)
  await put(path.join(folder, 'JOIN.md'), joinSteps(plan, s), 0o644)
  return folder
}

/** Renders every server's folder under `out`; the CA and credentials.json are made once and kept. */
export async function renderCluster(inventory: Inventory, out: string, options: RenderOptions): Promise<RenderResult> {
  if (!/^[0-9a-f]{64}\.json$/.test(options.probeImage)) throw new Error(`the probe image must be a manifest file name <sha256>.json, got ${options.probeImage}`)
  const plan = planServers(inventory)
  await mkdir(out, { recursive: true, mode: 0o700 })
  // One credentials.json for the whole cluster, in out/ (a config with no node keeps it at its dataDir's top).
  const credentials = await loadOrCreateCredentials({ ...plan.shared, dataDir: out } satisfies CloudConfig)
  // One CA: the shared services' config makes it (and the S3 server's own CA); each server's config its leaves.
  const tls: TlsRenewal = [...(await ensureTls(underRoot(plan.shared, caDir(out))))]
  for (const s of plan.servers) tls.push(...(await ensureTls(underRoot(s.config, caDir(out)))))
  const folders = []
  for (const s of plan.servers) folders.push(await renderServer(plan, s, credentials, out, options))
  return { plan, folders, tls }
}
