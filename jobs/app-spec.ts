// The desired-state document operators write to Consul KV under
// `<prefix><name>`: one typed validator is the single source of truth for
// what is accepted (the controller, leanctl and the table in docs/controller.md use it).
// Every problem names the field (a JSON path) and the reason.
import { createHash } from 'node:crypto'
import { locateComponent } from '../task-driver/wasm/task-config.ts'
import type { NomadJob } from './nomad-job.ts'
import {
  APP_NAME,
  bool,
  defined,
  fail,
  ingress,
  int,
  object,
  str,
  strings,
  type Json,
} from './spec-fields.ts'
import { checkAppLimits, DEFAULT_APP_LIMITS, type AppLimits } from './app-limits.ts'
import { parsePlacement } from './placement.ts'
import { renderVmJob, type VmSpec } from './vm.ts'
import { parseVmDocument } from './vm-document.ts'
import { renderWasmServiceJob, validateWasmService, type WasmServiceSpec } from './wasm-service.ts'

export { APP_NAME, SpecError } from './spec-fields.ts'
/** Largest document accepted, in bytes; Consul's own value limit is 512 KiB. */
export const MAX_DOCUMENT_BYTES = 64 * 1024

export type AppSpec =
  | { readonly kind: 'wasm-service'; readonly name: string; readonly service: WasmServiceSpec }
  | { readonly kind: 'vm'; readonly name: string; readonly vm: VmSpec }

/**
 * Parses and validates the document stored for app `name`, within `limits`
 * (the controller's configuration). Throws SpecError.
 */
export function parseAppSpec(name: string, raw: string | Buffer, limits: AppLimits = DEFAULT_APP_LIMITS): AppSpec {
  const app = parseDocument(name, raw)
  checkAppLimits(app.kind === 'vm' ? { vm: app.vm } : { service: app.service }, limits)
  return app
}

function parseDocument(name: string, raw: string | Buffer): AppSpec {
  if (name.includes('/'))
    fail(
      'name',
      `a key below the apps prefix names one app, with no further "/": ${JSON.stringify(name.slice(0, 100))} is nested, and no app is made from it`,
    )
  if (!APP_NAME.test(name))
    fail(
      'name',
      'the key must end in lower-case letters, digits and dashes, starting with a letter (at most 63)',
    )
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length
  if (bytes > MAX_DOCUMENT_BYTES)
    fail('$', `document of ${bytes} bytes is over the limit of ${MAX_DOCUMENT_BYTES}`)
  let doc: unknown
  try {
    doc = JSON.parse(raw.toString())
  } catch (err) {
    return fail('$', `not valid JSON (${(err as Error).message})`)
  }
  if ((doc as Json | null)?.kind === 'vm') return { kind: 'vm', name, vm: parseVmDocument(name, doc) }
  const top = object(doc, '$', [
    'kind',
    'component',
    'count',
    'port',
    'service',
    'instances',
    'grants',
    'limits',
    'env',
    'resources',
    'ingress',
    'spread',
    'constraints',
  ])
  if (top.kind !== 'wasm-service')
    fail(
      'kind',
      `expected "wasm-service", got ${JSON.stringify(top.kind)?.slice(0, 40)} (the other kind is "vm")`,
    )

  const component = object(top.component, 'component', ['sha256', 'source'])
  const sha256 =
    str(component.sha256, 'component.sha256', /^[0-9a-f]{64}$/, '64 lower-case hexadecimal characters') ??
    fail('component.sha256', 'required')
  const source = str(component.source, 'component.source')
  if (source !== undefined) {
    // Whether a local path or a host is allowed is each node's decision (its plugin config).
    const found = locateComponent(source, sha256)
    if ('problem' in found) fail('component.source', found.problem)
  }

  let port: WasmServiceSpec['port'] = 'dynamic'
  if (top.port !== undefined && top.port !== 'dynamic') {
    const p = object(top.port, 'port', ['static'])
    port = { static: int(p.static, 'port.static', 1, 65535) ?? fail('port.static', 'required') }
  }
  const service =
    top.service === undefined
      ? {}
      : object(top.service, 'service', ['name', 'checkPath', 'checkIntervalSeconds'])
  if (top.grants !== null && typeof top.grants === 'object' && 'services' in top.grants)
    fail('grants.services', 'replaced by grants.outbound: grant "http://<name>.service.consul" and call it with plain HTTP')
  const grants =
    top.grants === undefined
      ? undefined
      : object(top.grants, 'grants', ['buckets', 'requestLog', 'outbound', 'mail'])
  const limits =
    top.limits === undefined
      ? undefined
      : object(top.limits, 'limits', ['requestTimeout', 'maxRequestBody', 'instanceMemory'])
  const resources =
    top.resources === undefined ? undefined : object(top.resources, 'resources', ['cpu', 'memoryMB'])
  let env: Record<string, string> | undefined
  if (top.env !== undefined) {
    const e = object(top.env, 'env', Object.keys(top.env as object))
    if (Object.keys(e).length > 128) fail('env', 'at most 128 variables')
    env = Object.fromEntries(
      Object.entries(e).map(([k, v]) => [
        k,
        str(v, `env.${k}`, undefined, undefined, { multiline: true }) ?? '',
      ]),
    )
  }

  const serviceName =
    str(service.name, 'service.name', APP_NAME, 'a DNS label: lower-case letters, digits and dashes') ?? name
  const spec: WasmServiceSpec = defined({
    name,
    component: defined({ sha256, source }),
    count: int(top.count, 'count', 0, 1000) ?? 1,
    port,
    service: defined({
      name: serviceName,
      checkPath:
        str(service.checkPath, 'service.checkPath', /^\/\S*$/, 'a path starting with /') ?? '/health',
      checkIntervalSeconds: int(service.checkIntervalSeconds, 'service.checkIntervalSeconds', 1, 3600),
    }),
    instances: int(top.instances, 'instances', 1, 1024),
    grants:
      grants &&
      defined({
        buckets: strings(
          grants.buckets,
          'grants.buckets',
          /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
          'a bucket name',
        ),
        requestLog: bool(grants.requestLog, 'grants.requestLog'),
        outbound: strings(grants.outbound, 'grants.outbound'),
        mail: mailGrant(grants.mail),
      }),
    limits:
      limits &&
      defined({
        requestTimeout: str(limits.requestTimeout, 'limits.requestTimeout'),
        maxRequestBody: str(limits.maxRequestBody, 'limits.maxRequestBody'),
        instanceMemory: str(limits.instanceMemory, 'limits.instanceMemory'),
      }),
    env,
    resources: resources && {
      cpu: int(resources.cpu, 'resources.cpu', 10, 256_000) ?? fail('resources.cpu', 'required'),
      memoryMB:
        int(resources.memoryMB, 'resources.memoryMB', 16, 1_048_576) ??
        fail('resources.memoryMB', 'required'),
    },
    ingress: ingress(top.ingress, 'ingress', serviceName),
    placement: parsePlacement(top.spread, top.constraints),
  })
  validateWasmService(spec) // the renderer's own checks (names, limits, env keys), without rendering
  return { kind: 'wasm-service', name, service: spec }
}

/**
 * `grants.mail`: the recipients an app may mail, addresses or domains (the
 * renderer checks their form). `false` is none; `true` is refused, for it
 * would let the app mail anyone.
 */
function mailGrant(value: unknown): string[] | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true)
    return fail('grants.mail', 'name the recipients or domains this app may mail, e.g. ["example.com", "ops@example.org"]; true would let it mail anyone')
  return strings(value, 'grants.mail')
}

/** Job meta the controller sets: what marks a job as ours, and what it was rendered from. */
export const META_OWNER = 'lean-cloud.owner'
/** The KV prefix of the documents a controller renders from: controllers of other prefixes leave its jobs alone. */
export const META_APPS_PREFIX = 'lean-cloud.apps-prefix'

/**
 * Whether a job belongs to the controller of `appsPrefix`: it carries the
 * owner mark and that prefix (a job from before the prefix mark, with the
 * owner mark only, counts as the one controller's it was then).
 */
export function ownedBy(
  meta: Readonly<Record<string, string>> | null | undefined,
  appsPrefix: string,
): boolean {
  if (meta?.[META_OWNER] !== OWNER) return false
  const prefix = meta[META_APPS_PREFIX]
  return prefix === undefined || prefix === appsPrefix
}
export const META_SPEC_HASH = 'lean-cloud.spec-hash'
export const OWNER = 'lean-cloud-controller'

/** The Nomad job for an app, marked as owned, with the hash of what it was rendered from. */
export function renderAppJob(app: AppSpec) {
  const job = app.kind === 'vm' ? renderVmJob(app.vm) : renderWasmServiceJob(app.service)
  const hash = createHash('sha256').update(JSON.stringify(job)).digest('hex')
  return { ...job, Meta: { ...job.Meta, [META_OWNER]: OWNER, [META_SPEC_HASH]: hash } } satisfies NomadJob
}
