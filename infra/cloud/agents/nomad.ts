// Nomad: one agent that is both server and client, with persistent state (so
// tasks are recovered after an agent restart), the web UI, Consul integration,
// and a plugin_dir where the project's task drivers, `wasm` and `virt`, are installed.
// HTTP and RPC are TLS with the cloud's CA (infra/cloud/tls.ts); it talks to
// Consul's HTTPS API trusting the same CA.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { writeFileAtomic } from '../files.ts'
import path from 'node:path'
import { promisify } from 'node:util'
import { buildDriver, virtLauncher } from '../../../task-driver/build.ts'
import { imagePaths } from '../../images/paths.ts'
import { buildTiny } from '../../images/tiny.ts'
import { builtBinary } from '../binaries.ts'
import { cloudTag, layout, servicesHost, type CloudConfig } from '../config.ts'
import { cloudEnv, type Credentials } from '../credentials.ts'
import type { Agent } from '../agent.ts'
import { cloudFetch } from '../tls.ts'
import { processesUnder, stopProcess } from '../processes.ts'
import { libvirtUri } from './libvirt.ts'
import { controllerNomadPolicy } from '../identities.ts'
import { agentJson, cloudAgentApi } from '../agent-api.ts'
import { readIssuedTokens, writeIssuedTokens } from '../issued-tokens.ts'
import { ensureIngressJob, ensureNamespaces } from '../nomad-system.ts'
import { META_OWNER, OWNER } from '../../../jobs/app-spec.ts'
import { dataBuckets, s3BucketCredentials, s3Endpoint } from './s3.ts'

const run = promisify(execFile)

/** File names of the task drivers inside plugin_dir; Nomad names the plugin blocks after them. */
export const WASM_PLUGIN_FILE = 'wasm'
export const VIRT_PLUGIN_FILE = 'virt'

/**
 * Where this cloud's copy of the driver lives: a folder of its own in the
 * repo's dist/ (so its npm packages resolve from the repo's node_modules).
 * Rebuilding dist/task-driver (the tests and benches do) never touches the
 * bundle a running agent loaded, nor the chunks it loads lazily.
 */
export function installedDriverDir(config: CloudConfig): string {
  return path.join(config.repoDir, 'dist', `task-driver-cloud-${cloudTag(config.dataDir)}`)
}

/** A digest of every file of a built driver, to tell whether a running agent's copy is current. */
async function bundleDigest(dir: string): Promise<string> {
  const hash = createHash('sha256')
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f !== 'wasm' && f !== 'virt') // launchers name their own dir.sort()
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(await readFile(path.join(dir, file)))
  return hash.digest('hex')
}

/** Whether the driver built from the current sources differs from the one installed for this cloud. */
async function driverChanged(config: CloudConfig): Promise<boolean> {
  await mkdir(path.join(config.repoDir, 'dist'), { recursive: true })
  const scratch = await mkdtemp(path.join(config.repoDir, 'dist', '.driver-check-'))
  try {
    await buildDriver(scratch)
    return (await bundleDigest(scratch)) !== (await bundleDigest(installedDriverDir(config)))
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

/** The `plugin "wasm"` block: where to cache components, S3 access for s3:// components, and capability backends. */
export function renderWasmPluginBlock(
  config: CloudConfig,
  creds: Credentials,
  wasmtimeHost?: string,
): string {
  const q = JSON.stringify
  const bucketBlocks = dataBuckets(config).map((bucket) => {
    const keys = s3BucketCredentials(creds, bucket)
    return `
    s3_bucket ${q(bucket)} {
      access_key = ${q(keys.accessKey)}
      secret_key = ${q(keys.secretKey)}
    }`
  })
  return `
plugin "${WASM_PLUGIN_FILE}" {
  config {
    cache_dir     = ${q(path.join(config.dataDir, 'nomad', 'wasm-cache'))}
    s3_endpoint   = ${q(s3Endpoint(config))}
    # The S3 API's certificate is of the cloud's CA, and so is the SMTP server's STARTTLS one.
    s3_ca_file    = ${q(layout(config).tls.caCert)}
    # Fetch-only (read artifacts): s3:// components.
    s3_access_key = ${q(creds.s3DriverAccessKey)}
    s3_secret_key = ${q(creds.s3DriverSecretKey)}
    s3_region     = "us-east-1"
    # Besides s3://artifacts/components/<sha256>.wasm, local components only from the repo's
    # built components (workloads/dist: the tests' and benches' components); no http(s) host.
    component_paths = [${q(path.join(config.repoDir, 'workloads', 'dist'))}]
    # One S3 identity per data bucket; a task's runner gets only its granted buckets' keys.${bucketBlocks.join('')}
    # Backends of the capability API that components use instead of credentials.
    database_url    = ${q(cloudEnv(config, creds).DATABASE_WRITER_URL)}
    consul_dns_addr = ${q(`${config.host}:${config.consul.dnsPort}`)}
    # https outbound grants trust the cloud's CA besides the system's.
    outbound_ca_file = ${q(layout(config).tls.caCert)}
    smtp_addr       = ${q(`${servicesHost(config)}:${config.smtp.port}`)}
    smtp_from       = ${q(config.smtp.from)}
    smtp_ca_file    = ${q(layout(config).tls.caCert)}${
      wasmtimeHost
        ? `
    # The default engine: our wasmtime host (task-driver/engine), built by infra/build-binaries.sh.
    wasmtime_host   = ${q(wasmtimeHost)}`
        : ''
    }
  }
}
`
}

/**
 * The tiny VM image's manifest in the local image store, built if missing
 * (from cache: a file read): the virt driver boots it once with KVM at start
 * to decide between KVM and TCG.
 */
export async function probeImageManifest(): Promise<string> {
  return (await buildTiny(imagePaths(), { rebuild: false, updatePins: false })).manifestFile
}

/** The `plugin "virt"` block: the cloud's libvirtd, where images may come from, and the probe image. */
export function renderVirtPluginBlock(config: CloudConfig, creds: Credentials, probeImage: string): string {
  const q = JSON.stringify
  return `
plugin "${VIRT_PLUGIN_FILE}" {
  config {
    # The cloud's own libvirtd (infra/cloud/agents/libvirt.ts).
    libvirt_uri     = ${q(libvirtUri(config.dataDir))}
    # Local image manifests may only be read from here: the image store of \`npm run build:images\`.
    image_paths     = [${q(path.dirname(probeImage))}]
    image_cache_dir = ${q(path.join(config.dataDir, 'nomad', 'virt-images'))}
    probe_image     = ${q(probeImage)}
    s3_endpoint     = ${q(s3Endpoint(config))}
    s3_ca_file      = ${q(layout(config).tls.caCert)}
    # Fetch-only (read artifacts): s3:// images.
    s3_access_key   = ${q(creds.s3DriverAccessKey)}
    s3_secret_key   = ${q(creds.s3DriverSecretKey)}
    s3_region       = "us-east-1"
    # Where a VM's granted services (its egress) are looked up; Consul DNS needs no token.
    consul_dns_addr = ${q(`${config.host}:${config.consul.dnsPort}`)}
  }
}
`
}

/**
 * `consulToken`: the token Nomad talks to Consul with (Consul's ACLs deny by
 * default); `gossipKey`: turns on ACLs and gossip encryption (the cloud always
 * gives one; tests of the rendering may not).
 */
export function renderNomadConfig(config: CloudConfig, wasmBlock = '', consulToken?: string, gossipKey?: string): string {
  const paths = layout(config)
  const h = config.host
  const node = config.node
  const q = JSON.stringify
  const peers = node?.peers ?? [h]
  return `# Generated by 'npm run cloud:up'; edits are overwritten.
name                 = ${q(node?.name ?? 'lean-cloud')}
datacenter           = "dc1"
region               = "global"
data_dir             = ${q(paths.nomadData)}
plugin_dir           = ${q(paths.nomadPlugins)}
bind_addr            = ${q(h)}
disable_update_check = true
log_level            = "INFO"

ports {
  http = ${config.nomad.httpPort}
  rpc  = ${config.nomad.rpcPort}
  serf = ${config.nomad.serfPort}
}

advertise {
  http = ${q(h)}
  rpc  = ${q(h)}
  serf = ${q(h)}
}

server {
  enabled          = true
  bootstrap_expect = ${peers.length}${gossipKey ? `\n  # Gossip between servers is encrypted.\n  encrypt          = ${q(gossipKey)}` : ''}${
    node
      ? `
  server_join {
    retry_join = ${q(peers.filter((p) => p !== h).map((p) => `${p}:${config.nomad.serfPort}`))}
  }
  # A client that stops heartbeating is down in ~5 s, not 20-30 s, and its
  # allocations are replaced at once; after a leader change, clients get 20 s
  # (not 5 min) to reach the new one.
  heartbeat_grace        = "3s"
  min_heartbeat_ttl      = "2s"
  failover_heartbeat_ttl = "20s"
  # Spread, not bin-pack: separate jobs (each VM is one) go to the least used
  # node, so that losing a node costs a share of the apps, not most of them.
  # Read when the servers first bootstrap; later, the operator API sets it.
  default_scheduler_config {
    scheduler_algorithm = "spread"
  }`
      : ''
  }
}

client {
  enabled           = true
  servers           = ${q(peers.map((p) => `${p}:${config.nomad.rpcPort}`))}
  # Allocated ports live on ${node ? "the node's own address, where the other nodes' Consul checks and ingresses reach them" : "loopback, where Consul's checks and our tests reach them"}.
  network_interface = ${q(node?.networkInterface ?? 'lo')}
  # Two clouds on one host (the user's and the tests') must never hand out the
  # same port, nor share a cgroup.
  min_dynamic_port  = ${config.nomad.dynamicPorts.min}
  max_dynamic_port  = ${config.nomad.dynamicPorts.max}
  cgroup_parent     = ${q(config.nomad.cgroupParent)}${
    node?.memoryTotalMB
      ? `
  # Several clients on one machine: each offers its share of the memory, not all of it.
  memory_total_mb   = ${node.memoryTotalMB}`
      : ''
  }

  options = {
    # Cloud-metadata fingerprinters probe link-local endpoints that a
    # loopback cloud never has (and break when AWS_CA_BUNDLE is set).
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}

${gossipKey ? `# Deny by default: the bootstrap token (NOMAD_TOKEN in cloud.env) is made by the first health check.\nacl {\n  enabled = true\n}\n\n` : ''}# HTTPS API and mutual-TLS RPC (the client reaches its server over RPC with
# the same certificate); API callers need only the CA, no certificate of their own.
tls {
  http                   = true
  rpc                    = true
  ca_file                = ${JSON.stringify(paths.tls.caCert)}
  cert_file              = ${JSON.stringify(paths.tls.nomadCert)}
  key_file               = ${JSON.stringify(paths.tls.nomadKey)}
  verify_server_hostname = true
  verify_https_client    = false
}

consul {
  # Consul's API is HTTPS only (infra/cloud/agents/consul.ts).
  address    = "${h}:${config.consul.httpPort}"
  ssl        = true
  verify_ssl = true
  ca_file    = ${JSON.stringify(paths.tls.caCert)}
${consulToken ? `  # Nomad registers services and reads the catalog (templates) with it.\n  token      = ${JSON.stringify(consulToken)}` : ''}
}

ui {
  enabled = true
}

telemetry {
  prometheus_metrics         = true
  publish_allocation_metrics = true
  publish_node_metrics       = true
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}
${wasmBlock}`
}

/** The agent config `cloud:up` writes: the base config with the wasm and virt plugin blocks. */
export function nomadConfigFor(
  config: CloudConfig,
  creds: Credentials,
  probeImage: string,
  wasmtimeHost?: string,
): string {
  return renderNomadConfig(
    config,
    renderWasmPluginBlock(config, creds, wasmtimeHost) + renderVirtPluginBlock(config, creds, probeImage),
    creds.consulNomadToken,
    creds.nomadGossipKey,
  )
}

/** The cloud's Nomad API. */
export const nomadOrigin = (config: CloudConfig) => `https://${config.host}:${config.nomad.httpPort}`

/**
 * Bootstraps Nomad's ACLs with the secret in credentials.json (Nomad 1.4+
 * takes it from the caller). Nomad refuses a second bootstrap and names its
 * reset index; when the token it was bootstrapped with is not ours (the
 * credentials file was lost, Nomad's state kept), the cloud, which owns
 * Nomad's data dir, writes that index to `server/acl-bootstrap-reset` as
 * Nomad documents for a lost bootstrap token, and bootstraps again.
 */
async function bootstrapAcls(config: CloudConfig, credentials: Credentials): Promise<void> {
  const bootstrap = async () => {
    const res = await cloudFetch(config, `${nomadOrigin(config)}/v1/acl/bootstrap`, {
      method: 'POST',
      body: JSON.stringify({ BootstrapSecret: credentials.nomadManagementToken }),
      signal: AbortSignal.timeout(5000),
    })
    return { ok: res.ok, status: res.status, text: (await res.text()).trim() }
  }
  const resetFile = path.join(layout(config).nomadData, 'server', 'acl-bootstrap-reset')
  const first = await bootstrap()
  if (!first.ok) {
    // "ACL bootstrap already done (reset index: N)", or, with a stale reset file, "Invalid bootstrap reset index (specified M, reset index: N)".
    const reset = /reset index: (\d+)\)/.exec(first.text)
    if (!reset) throw new Error(`Nomad ACL bootstrap answered ${first.status}: ${first.text}`)
    await writeFile(resetFile, reset[1]!)
    const again = await bootstrap()
    if (!again.ok) throw new Error(`Nomad ACL bootstrap after a reset answered ${again.status}: ${again.text}`)
  }
  await rm(resetFile, { force: true })
}

/** A Nomad HTTP call with the management token; undefined for 404. */
function nomadApi<T>(config: CloudConfig, credentials: Credentials, method: string, path: string, body?: unknown): Promise<T | undefined> {
  return agentJson<T>(cloudAgentApi(config, 'Nomad', nomadOrigin(config), credentials.nomadManagementToken), method, path, body)
}

const CONTROLLER_POLICY = 'lean-controller'

/**
 * The controller's policy (jobs in the managed namespace only) and its token, issued once and again whenever Nomad no
 * longer knows the stored one. Returns what it made, for progress.
 */
async function ensureControllerIdentity(config: CloudConfig, credentials: Credentials): Promise<string[]> {
  const made: string[] = []
  const namespace = config.controller.namespace
  const policy = controllerNomadPolicy(CONTROLLER_POLICY, namespace)
  const existing = await nomadApi<{ Rules: string }>(config, credentials, 'GET', `/v1/acl/policy/${CONTROLLER_POLICY}`)
  if (existing?.Rules !== policy.Rules) await nomadApi(config, credentials, 'PUT', `/v1/acl/policy/${CONTROLLER_POLICY}`, policy)
  const issued = await readIssuedTokens(config)
  const known = issued.nomadController && (await nomadApi(config, credentials, 'GET', `/v1/acl/token/${issued.nomadController.accessorId}`))
  if (!known) {
    const token = (await nomadApi<{ AccessorID: string; SecretID: string }>(config, credentials, 'PUT', '/v1/acl/token', {
      Name: 'lean-controller',
      Type: 'client',
      Policies: [CONTROLLER_POLICY],
    }))!
    await writeIssuedTokens(config, { ...issued, nomadController: { accessorId: token.AccessorID, secretId: token.SecretID } })
    made.push("the controller's token")
  }
  return made
}

/**
 * Stops the jobs a controller made outside the managed namespace (a cloud
 * from before namespaces ran them in `default`): the controller registers
 * them again in its namespace. Run once no controller of the old kind runs.
 */
export async function retireJobsOutsideNamespace(config: CloudConfig, credentials: Credentials): Promise<string[]> {
  const jobs = (await nomadApi<Array<{ ID: string; Namespace: string; Meta?: Record<string, string> | null }>>(config, credentials, 'GET', '/v1/jobs?namespace=*&meta=true')) ?? []
  // The ingress is the cloud's now (nomad-system.ts retires the one a controller kept); only apps move.
  const stray = jobs.filter((j) => j.Namespace !== config.controller.namespace && j.Meta?.[META_OWNER] === OWNER)
  for (const job of stray) await nomadApi(config, credentials, 'DELETE', `/v1/job/${encodeURIComponent(job.ID)}?namespace=${encodeURIComponent(job.Namespace)}`)
  return stray.map((j) => `${j.Namespace}/${j.ID}`)
}

/** Unmounts every mount point below dir, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await mountsUnder(dir)).sort((a, b) => b.length - a.length)
  for (const point of mounts) await run('umount', [point])
}

/** Mount points below dir (Nomad mounts a tmpfs on each task's secrets/ and private/). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = `${dir}/`
  return (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((point): point is string => point !== undefined && point.startsWith(prefix))
}

export const nomadAgent: Agent = {
  name: 'nomad',
  usesTls: true,
  programs: ['nomad', 'wasm-host'],
  ports: (c) => [c.nomad.httpPort, c.nomad.rpcPort, c.nomad.serfPort],
  stopSignal: 'SIGINT',
  stopGraceMs: 20_000,

  async prepare({ config, credentials, binaries, progress }) {
    const paths = layout(config)
    await mkdir(paths.nomadData, { recursive: true })
    await mkdir(paths.nomadPlugins, { recursive: true })
    const launcher = await buildDriver(installedDriverDir(config))
    await copyFile(launcher, path.join(paths.nomadPlugins, WASM_PLUGIN_FILE))
    await copyFile(virtLauncher(launcher), path.join(paths.nomadPlugins, VIRT_PLUGIN_FILE))
    progress(`installed the wasm and virt task drivers in ${paths.nomadPlugins}`)
    progress("the tiny VM image for the virt driver's accelerator probe (built once, then cached)")
    // Owner-only: the drivers' S3 keys and the database password are in it.
    await writeFileAtomic(paths.nomadConfig, nomadConfigFor(config, credentials, await probeImageManifest(), binaries['wasm-host']), 0o600)
  },

  // Nomad reads plugin config only at start: a running agent whose config file
  // differs from what we would write now (a new plugin attribute, new
  // credentials, a wasmtime host built from changed sources) must restart to
  // see it; so must one whose driver was built from other sources.
  async restartReason({ config, credentials }) {
    const file = layout(config).nomadConfig
    const written = await readFile(file, 'utf8').catch(() => '')
    const wasmtimeHost = await builtBinary(config, 'wasm-host')
    if (written !== nomadConfigFor(config, credentials, await probeImageManifest(), wasmtimeHost))
      return `its config ${file} is out of date`
    // Tasks survive the restart (RecoverTask); the new plugin process loads the new driver.
    if (await driverChanged(config)) return 'the task drivers changed'
    return undefined
  },

  async spawnSpec({ config, binaries }) {
    return { command: binaries.nomad!, args: ['agent', `-config=${layout(config).nomadConfig}`] }
  },

  // Nomad's state is jobs and allocations, all derived from the desired state
  // in Consul KV: the controller registers every job again.
  async resetState(config) {
    const dir = layout(config).nomadData
    // Tasks of the old state (detached runners) would be orphans of the new one.
    const orphans = await processesUnder(dir)
    await Promise.all(orphans.map((pid) => stopProcess(pid, 'SIGTERM', 5000)))
    // Nomad mounts a tmpfs on each task's secrets/ and private/ dirs.
    await unmountUnder(dir)
    await rm(dir, { recursive: true, force: true })
    return `deleted Nomad's state in ${dir}; the controller registers the apps' jobs again from Consul KV`
  },

  async ensureResources({ config, credentials, progress }) {
    const nomad = cloudAgentApi(config, 'Nomad', nomadOrigin(config), credentials.nomadManagementToken)
    const namespaces = await ensureNamespaces(nomad, config)
    if (namespaces.length > 0) progress(`Nomad namespaces: set ${namespaces.join(', ')} (raw_exec only in ${config.nomad.systemNamespace})`)
    const made = await ensureControllerIdentity(config, credentials)
    if (made.length > 0) progress(`Nomad ACLs: made ${made.join(' and ')}`)
    for (const line of await ensureIngressJob(nomad, config)) progress(`ingress: ${line}`)
  },

  async health({ config, credentials }) {
    const base = nomadOrigin(config)
    const get = (path: string, headers: Record<string, string> = {}) => cloudFetch(config, `${base}${path}`, { headers, signal: AbortSignal.timeout(2000) })
    const res = await get('/v1/nodes', { 'x-nomad-token': credentials.nomadManagementToken })
    if (res.status === 403) {
      await res.body?.cancel()
      // A cluster's ACLs are bootstrapped once, through its first node (n1 on one machine; a real cluster's first server).
      if (!config.node || config.node.peers[0] === config.host) await bootstrapAcls(config, credentials)
      return false
    }
    if (!res.ok) return false
    const nodes = (await res.json()) as Array<{ Name: string; Status: string; Drivers?: Record<string, { Detected?: boolean; Healthy?: boolean }> | null }>
    // Ready, and able to run wasm tasks: a client whose driver has not reported yet would be left out of
    // the first placements (a cluster's apps would all land on the nodes that were quicker).
    const ready = nodes.find(
      (n) => n.Status === 'ready' && (!config.node || n.Name === config.node.name) && n.Drivers?.[WASM_PLUGIN_FILE]?.Detected === true && n.Drivers[WASM_PLUGIN_FILE]?.Healthy === true,
    )
    if (!ready) return false
    const ui = await get('/ui/')
    return ui.ok ? `node ${ready.Name} ready, UI at ${base}/ui/` : false
  },
}
