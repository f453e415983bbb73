// The desired-state document operators write to Consul KV under
// `<prefix><name>`: one typed validator is the single source of truth for
// what is accepted (the controller, leanctl and the README table use it).
// Every problem names the field (a JSON path) and the reason.
import { createHash } from 'node:crypto'
import { JobSpecError } from './errors.ts'
import type { NomadJob } from './nomad-job.ts'
import { renderVmJob, type VmSpec } from './vm.ts'
import { renderWasmServiceJob, type WasmServiceSpec } from './wasm-service.ts'

export const APP_NAME = /^[a-z][a-z0-9-]{0,62}$/
/** Largest document accepted, in bytes; Consul's own value limit is 512 KiB. */
export const MAX_DOCUMENT_BYTES = 64 * 1024

export type AppSpec =
  | { readonly kind: 'wasm-service'; readonly name: string; readonly service: WasmServiceSpec }
  | { readonly kind: 'vm'; readonly name: string; readonly vm: VmSpec }

export class AppSpecError extends Error {
  readonly code = 'LEAN_ERR_SPEC_INVALID' as const
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`)
    this.name = 'AppSpecError'
  }
}

type Json = Record<string, unknown>
const fail = (field: string, reason: string): never => {
  throw new AppSpecError(field, reason)
}

function object(value: unknown, field: string, allowed: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(field, 'expected an object')
  for (const key of Object.keys(value)) if (!allowed.includes(key)) fail(field === '$' ? key : `${field}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`)
  return value as Json
}

function int(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) return fail(field, `expected a whole number from ${min} to ${max}`)
  return value
}

function str(value: unknown, field: string, pattern?: RegExp, what?: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') return fail(field, 'expected a string')
  if (value.length > 4096) return fail(field, 'longer than 4096 characters')
  if (pattern && !pattern.test(value)) return fail(field, `expected ${what}`)
  return value
}

function strings(value: unknown, field: string, pattern: RegExp, what: string): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length > 64) return fail(field, 'expected a list of at most 64 strings')
  return value.map((v, i) => str(v, `${field}[${i}]`, pattern, what)!)
}

function bool(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') return fail(field, 'expected true or false')
  return value
}

/** Drops undefined members, so optional fields stay absent (exactOptionalPropertyTypes). */
const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> }

/** Parses and validates the document stored for app `name`. Throws AppSpecError. */
export function parseAppSpec(name: string, raw: string | Buffer): AppSpec {
  if (!APP_NAME.test(name)) fail('name', 'the key must end in lower-case letters, digits and dashes, starting with a letter (at most 63)')
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length
  if (bytes > MAX_DOCUMENT_BYTES) fail('$', `document of ${bytes} bytes is over the limit of ${MAX_DOCUMENT_BYTES}`)
  let doc: unknown
  try {
    doc = JSON.parse(raw.toString())
  } catch (err) {
    return fail('$', `not valid JSON (${(err as Error).message})`)
  }
  if ((doc as Json | null)?.kind === 'vm') return parseVm(name, object(doc, '$', VM_FIELDS))
  const top = object(doc, '$', ['kind', 'component', 'count', 'port', 'service', 'instances', 'grants', 'limits', 'env', 'resources'])
  if (top.kind !== 'wasm-service') fail('kind', `expected "wasm-service", got ${JSON.stringify(top.kind)?.slice(0, 40)} (the other kind is "vm")`)

  const component = object(top.component, 'component', ['sha256', 'source'])
  const sha256 = str(component.sha256, 'component.sha256', /^[0-9a-f]{64}$/, '64 lower-case hexadecimal characters') ?? fail('component.sha256', 'required')
  const source = str(component.source, 'component.source', /^(s3|https?):\/\/\S+$|^\/\S+$/, 'an s3://, http(s):// or absolute path')

  let port: WasmServiceSpec['port'] = 'dynamic'
  if (top.port !== undefined && top.port !== 'dynamic') {
    const p = object(top.port, 'port', ['static'])
    port = { static: int(p.static, 'port.static', 1, 65535) ?? fail('port.static', 'required') }
  }
  const service = top.service === undefined ? {} : object(top.service, 'service', ['name', 'checkPath', 'checkIntervalSeconds'])
  const grants = top.grants === undefined ? undefined : object(top.grants, 'grants', ['buckets', 'requestLog', 'services', 'mail'])
  const limits = top.limits === undefined ? undefined : object(top.limits, 'limits', ['requestTimeout', 'maxRequestBody', 'instanceMemory'])
  const resources = top.resources === undefined ? undefined : object(top.resources, 'resources', ['cpu', 'memoryMB'])
  let env: Record<string, string> | undefined
  if (top.env !== undefined) {
    const e = object(top.env, 'env', Object.keys(top.env as object))
    if (Object.keys(e).length > 128) fail('env', 'at most 128 variables')
    env = Object.fromEntries(Object.entries(e).map(([k, v]) => [k, str(v, `env.${k}`) ?? '']))
  }

  const spec: WasmServiceSpec = defined({
    name,
    component: defined({ sha256, source }),
    count: int(top.count, 'count', 0, 1000) ?? 1,
    port,
    service: defined({
      name: str(service.name, 'service.name', APP_NAME, 'a DNS label: lower-case letters, digits and dashes') ?? name,
      checkPath: str(service.checkPath, 'service.checkPath', /^\/\S*$/, 'a path starting with /') ?? '/health',
      checkIntervalSeconds: int(service.checkIntervalSeconds, 'service.checkIntervalSeconds', 1, 3600),
    }),
    instances: int(top.instances, 'instances', 1, 1024),
    grants: grants && defined({
      buckets: strings(grants.buckets, 'grants.buckets', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a bucket name'),
      requestLog: bool(grants.requestLog, 'grants.requestLog'),
      services: strings(grants.services, 'grants.services', APP_NAME, 'a Consul service name'),
      mail: bool(grants.mail, 'grants.mail'),
    }),
    limits: limits && defined({
      requestTimeout: str(limits.requestTimeout, 'limits.requestTimeout'),
      maxRequestBody: str(limits.maxRequestBody, 'limits.maxRequestBody'),
      instanceMemory: str(limits.instanceMemory, 'limits.instanceMemory'),
    }),
    env,
    resources: resources && {
      cpu: int(resources.cpu, 'resources.cpu', 10, 256_000) ?? fail('resources.cpu', 'required'),
      memoryMB: int(resources.memoryMB, 'resources.memoryMB', 16, 1_048_576) ?? fail('resources.memoryMB', 'required'),
    },
  })
  rendered(() => renderWasmServiceJob(spec)) // the renderer's own checks (names, limits, env keys)
  return { kind: 'wasm-service', name, service: spec }
}

/** Runs a renderer for its checks; its JobSpecError becomes an AppSpecError on the same field. */
function rendered(render: () => unknown): void {
  try {
    render()
  } catch (err) {
    if (err instanceof JobSpecError) fail(err.field, err.message.slice(err.field.length + 2))
    throw err
  }
}

const VM_FIELDS = ['kind', 'image', 'vcpus', 'memory', 'disks', 'cloudInit', 'network', 'count', 'datacenters', 'service']

/** A `vm` document: its shape is checked here, the driver's own rules in jobs/vm.ts. */
function parseVm(name: string, top: Json): AppSpec {
  const disks = top.disks === undefined ? undefined : object(top.disks, 'disks', ['primarySize', 'thinCopy'])
  const cloudInit = top.cloudInit === undefined ? undefined : object(top.cloudInit, 'cloudInit', ['userData', 'sshAuthorizedKey', 'password'])
  const network = top.network === undefined ? {} : object(top.network, 'network', ['bridge', 'ports'])
  const service = top.service === undefined ? undefined : object(top.service, 'service', ['name', 'port', 'checkIntervalSeconds'])
  let ports: Record<string, number> = {}
  if (network.ports !== undefined) {
    const p = object(network.ports, 'network.ports', Object.keys(network.ports as object))
    ports = Object.fromEntries(Object.entries(p).map(([label, v]) => [label, int(v, `network.ports.${label}`, 1, 65535) ?? fail(`network.ports.${label}`, 'required')]))
  }
  // cloud-config may be longer than str()'s 4096 characters; jobs/vm.ts bounds it.
  const userData = cloudInit?.userData
  if (userData !== undefined && typeof userData !== 'string') fail('cloudInit.userData', 'expected a string')
  const datacenters = strings(top.datacenters, 'datacenters', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a datacenter name')
  if (datacenters?.length === 0) fail('datacenters', 'expected at least one datacenter')

  const vm: VmSpec = defined({
    name,
    image: str(top.image, 'image') ?? fail('image', 'required: an absolute path on the client host or an http(s):// URL'),
    vcpus: int(top.vcpus, 'vcpus', 1, 64) ?? 1,
    memory: str(top.memory, 'memory') ?? '1GiB',
    disks: disks && defined({ primarySize: str(disks.primarySize, 'disks.primarySize'), thinCopy: bool(disks.thinCopy, 'disks.thinCopy') }),
    cloudInit: cloudInit && defined({
      userData: userData as string | undefined,
      sshAuthorizedKey: str(cloudInit.sshAuthorizedKey, 'cloudInit.sshAuthorizedKey'),
      password: str(cloudInit.password, 'cloudInit.password'),
    }),
    network: { bridge: str(network.bridge, 'network.bridge') ?? 'virbr0', ports },
    count: int(top.count, 'count', 0, 100) ?? 1,
    service: service && defined({
      name: str(service.name, 'service.name', APP_NAME, 'a DNS label: lower-case letters, digits and dashes') ?? name,
      port: str(service.port, 'service.port') ?? fail('service.port', 'required: a label from network.ports'),
      checkIntervalSeconds: int(service.checkIntervalSeconds, 'service.checkIntervalSeconds', 1, 3600),
    }),
    datacenters,
  })
  rendered(() => renderVmJob(vm)) // the renderer's own checks (image, sizes, key, labels)
  return { kind: 'vm', name, vm }
}

/** Job meta the controller sets: what marks a job as ours, and what it was rendered from. */
export const META_OWNER = 'lean-cloud.owner'
export const META_SPEC_HASH = 'lean-cloud.spec-hash'
export const OWNER = 'lean-cloud-controller'

/** The Nomad job for an app, marked as owned, with the hash of what it was rendered from. */
export function renderAppJob(app: AppSpec) {
  const job = app.kind === 'vm' ? renderVmJob(app.vm) : renderWasmServiceJob(app.service)
  const hash = createHash('sha256').update(JSON.stringify(job)).digest('hex')
  return { ...job, Meta: { ...job.Meta, [META_OWNER]: OWNER, [META_SPEC_HASH]: hash } } satisfies NomadJob
}
