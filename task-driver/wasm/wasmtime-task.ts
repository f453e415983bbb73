// A wasm task: the plugin starts our wasmtime host
// (task-driver/engine, lean-wasm-host) as the task's own process, detached so
// it outlives plugin and Nomad client restarts. The plugin itself serves the
// task's capability API (the only place the guest's outgoing HTTP may reach)
// and fetches the component, so nothing else stands between StartTask and the
// first request: the host loads the precompiled component and listens.
import { randomBytes } from 'node:crypto'
import { mkdir, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { DriverError } from '../kit/errors.ts'
import { startCapabilityServer, type CapabilityBackends, type CapabilityServer, type CapabilityTask } from '../capabilities/capability-server.ts'
import { checkComponentSource, fetchVerifiedComponent, type ComponentAccess } from './fetch-component.ts'
import { readJson, stateFile, type RunnerSpec } from './runner-spec.ts'
import { eventsFile } from './task-events.ts'
import type { Grants } from './task-config.ts'
import type { Launch } from './task-handle.ts'

/** The host's spec file (its fields are the host's; see task-driver/engine/README.md). */
export interface HostSpec {
  readonly component: string
  readonly sha256: string
  readonly cache_dir: string
  readonly listen: string
  readonly instances: number
  readonly request_timeout_ms: number
  readonly max_request_body_bytes: number
  readonly instance_memory_bytes: number
  readonly env: Record<string, string>
  readonly args: readonly string[]
  readonly egress_allow: readonly string[]
  /** The component's own wasi:http calls: absent, none (the engine's README has the rules). */
  readonly outbound?: HostOutbound
  readonly events: string
  readonly ready_file: string
  readonly exit_file: string
  readonly exit_with_parent: boolean
  readonly recycle_idle_ms: number
  readonly recycle_grown_bytes: number
}

/** The host's `outbound` field: the grants, where Consul's DNS answers, and which CAs https trusts. */
export interface HostOutbound {
  readonly grants: ReadonlyArray<{ readonly scheme: string; readonly host: string; readonly port?: number }>
  readonly consul_dns?: string
  readonly ca_files?: readonly string[]
}

/** The host's `outbound` field for `grants`; undefined when the task may call out to nothing. */
export function hostOutbound(grants: Grants, consulDns: string | undefined, caFile: string | undefined): HostOutbound | undefined {
  if (grants.outbound.length === 0) return undefined
  return {
    grants: grants.outbound.map((g) => ({ scheme: g.scheme, host: g.host, ...(g.port !== undefined && { port: g.port }) })),
    ...(consulDns && { consul_dns: consulDns }),
    ...(caFile && { ca_files: [caFile] }),
  }
}

const withOutbound = (outbound: HostOutbound | undefined) => (outbound ? { outbound } : {})

/** An instance that served and then idled this long is swapped for a fresh one (its dirty pages go back). */
export const RECYCLE_IDLE_MS = 30_000

/**
 * An instance whose memory grew more than this past its initial image is
 * swapped for a fresh one after its request: a JavaScript guest's heap
 * never shrinks, and under load a PDF instance grew about 90 KB a request.
 */
export const RECYCLE_GROWN_BYTES = 4 * 1024 * 1024

const hostSpecFile = (stateDir: string) => stateFile(stateDir, 'wasm-host.json')
/** What a restarted plugin needs to serve a running task's capability API again (Nomad's recover handle lacks the task config). */
const capabilitiesFile = (stateDir: string) => path.join(stateDir, 'capabilities.json')

interface RecoverableCapabilities {
  /** Absent in the files of earlier versions: the capability server then gives the task no app (NO_APP). */
  readonly app: string
  readonly grants: Grants
  readonly token: string
}

/** Downloads under way in this plugin, by digest: tasks of one job starting together fetch once. */
const fetching = new Map<string, Promise<string>>()

/**
 * A local file holding the component, verified: `<cacheDir>/components/<sha256>.wasm`,
 * fetched once per digest from wherever the task config says, if `access`
 * (the plugin config's component_* options) allows it. The source is checked
 * even when the digest is cached, so a refused source is refused everywhere.
 */
export async function componentFile(
  source: string,
  sha256: string,
  cacheDir: string,
  access: ComponentAccess,
  fetchBytes: typeof fetchVerifiedComponent = fetchVerifiedComponent,
): Promise<string> {
  await checkComponentSource(source, sha256, access)
  const file = path.join(cacheDir, 'components', `${sha256}.wasm`)
  if (await stat(file).catch(() => undefined)) return file
  let download = fetching.get(file)
  if (!download) {
    download = (async () => {
      const bytes = await fetchBytes(source, sha256, access)
      await mkdir(path.dirname(file), { recursive: true })
      // A scratch name of its own: other plugins (other clouds, a restarted one) may share the cache.
      const partial = `${file}.partial-${process.pid}-${randomBytes(4).toString('hex')}`
      await writeFile(partial, bytes)
      await rename(partial, file)
      return file
    })().finally(() => fetching.delete(file))
    fetching.set(file, download)
  }
  return download
}

/**
 * The capability API of a task, served from the plugin process on a fixed
 * loopback port. `processLog` (the plugin's) logs the outbox delivery loop
 * that the tasks of this process share.
 */
export function serveCapabilities(task: CapabilityTask, backends: CapabilityBackends, token: string, log: Logger, port = 0, processLog: Logger = log): Promise<CapabilityServer> {
  return startCapabilityServer(task, backends, token, log, { log: processLog }, port)
}

/**
 * Fetches the component (as `access` allows), writes the host's spec and says
 * how to start the host. `capabilities` must already listen: its address goes to the guest.
 */
export async function prepareWasmtimeLaunch(spec: RunnerSpec, capabilities: CapabilityServer, access: ComponentAccess): Promise<Launch> {
  if (!spec.wasmtimeHost) {
    throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'plugin config wasmtime_host: not set, so this client cannot run wasm tasks (the wasmtime host runs every task)')
  }
  const component = await componentFile(spec.config.component, spec.config.sha256, spec.cacheDir, access)
  const hostSpec: HostSpec = {
    component,
    sha256: spec.config.sha256,
    cache_dir: path.join(spec.cacheDir, 'wasmtime'),
    listen: `${spec.host}:${spec.port}`,
    instances: spec.config.instances,
    request_timeout_ms: spec.config.requestTimeoutMs,
    max_request_body_bytes: spec.config.maxRequestBodyBytes,
    instance_memory_bytes: spec.config.instanceMemoryBytes,
    env: { ...spec.guestEnv, LEAN_CAPABILITIES_URL: capabilities.url, LEAN_CAPABILITY_TOKEN: spec.capabilityToken },
    args: spec.config.args,
    // The capability API, on the plugin's loopback port; and, apart, whatever the task's outbound grants name.
    egress_allow: [capabilities.authority],
    ...withOutbound(hostOutbound(spec.config.grants, spec.capabilities.consulDns, spec.outboundCaFile)),
    events: eventsFile(spec.stateDir),
    ready_file: stateFile(spec.stateDir, 'ready.json'),
    exit_file: stateFile(spec.stateDir, 'exit.json'),
    exit_with_parent: false,
    recycle_idle_ms: RECYCLE_IDLE_MS,
    recycle_grown_bytes: RECYCLE_GROWN_BYTES,
  }
  const file = hostSpecFile(spec.stateDir)
  // Both hold the capability token: owner only.
  await writeFile(file, JSON.stringify(hostSpec), { mode: 0o600 })
  const recoverable: RecoverableCapabilities = { app: spec.config.app, grants: spec.config.grants, token: spec.capabilityToken }
  await writeFile(capabilitiesFile(spec.stateDir), JSON.stringify(recoverable), { mode: 0o600 })
  return {
    taskId: spec.taskId,
    stateDir: spec.stateDir,
    port: spec.port,
    command: spec.wasmtimeHost,
    args: [file],
    remoteComponent: !spec.config.component.startsWith('/'),
    capabilityPort: capabilities.port,
    what: 'the wasmtime host',
  }
}

/** The app, grants and token of a running task (after a plugin restart, the plugin knows them only from here). */
export async function recoveredCapabilities(stateDir: string): Promise<RecoverableCapabilities | undefined> {
  return readJson<RecoverableCapabilities>(capabilitiesFile(stateDir))
}
