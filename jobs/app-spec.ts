// The desired-state document operators write to Consul KV under
// `<prefix><name>`: one typed validator is the single source of truth for
// what is accepted (the controller, leanctl and the table in docs/controller.md use it).
// Every problem names the field (a JSON path) and the reason.
import { createHash } from 'node:crypto'
import { locateComponent } from '../task-driver/wasm/task-config.ts'
import type { NomadJob } from './nomad-job.ts'
import {
  APP_NAME,
  defined,
  fail,
  ingress,
  object,
  readBool,
  readInt,
  readMap,
  readObject,
  readString,
  readStrings,
  type Json,
} from './spec-fields.ts'
import { checkAppLimits, DEFAULT_APP_LIMITS, type AppLimits } from './app-limits.ts'
import { MAX_DOCUMENT_BYTES, VM_DOCUMENT, WASM_SERVICE_DOCUMENT } from './document-fields.ts'
import { parsePlacement } from './placement.ts'
import { renderVmJob, type VmSpec } from './vm.ts'
import { parseVmDocument } from './vm-document.ts'
import { renderWasmServiceJob, validateWasmService, type WasmServiceSpec } from './wasm-service.ts'

export { APP_NAME, SpecError } from './spec-fields.ts'
export { MAX_DOCUMENT_BYTES } from './document-fields.ts'

export type AppSpec =
  | { readonly kind: 'wasm-service'; readonly name: string; readonly service: WasmServiceSpec }
  | { readonly kind: 'vm'; readonly name: string; readonly vm: VmSpec }

/**
 * Parses and validates the document stored for app `name`, within `limits`
 * (the controller's configuration). Throws SpecError.
 */
export function parseAppSpec(
  name: string,
  raw: string | Buffer,
  limits: AppLimits = DEFAULT_APP_LIMITS,
): AppSpec {
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
  if ((doc as Json | null)?.kind === VM_DOCUMENT.fields.kind.value)
    return { kind: 'vm', name, vm: parseVmDocument(name, doc) }
  const F = WASM_SERVICE_DOCUMENT.fields
  const top = object(doc, '$', Object.keys(F))
  if (top.kind !== F.kind.value)
    fail(
      'kind',
      `expected ${JSON.stringify(F.kind.value)}, got ${JSON.stringify(top.kind)?.slice(0, 40)} (the other kind is ${JSON.stringify(VM_DOCUMENT.fields.kind.value)})`,
    )

  const component = readObject(F.component, top.component, 'component')
  const sha256 = readString(F.component.fields.sha256, component.sha256, 'component.sha256')
  const source = readString(F.component.fields.source, component.source, 'component.source')
  if (source !== undefined) {
    // Whether a local path or a host is allowed is each node's decision (its plugin config).
    const found = locateComponent(source, sha256)
    if ('problem' in found) fail('component.source', found.problem)
  }

  let port: WasmServiceSpec['port'] = 'dynamic'
  const [dynamic, fixed] = F.port.options
  if (top.port !== undefined && top.port !== dynamic.value) {
    const p = object(top.port, 'port', Object.keys(fixed.fields))
    port = { static: readInt(fixed.fields.static, p.static, 'port.static') }
  }
  const service = readObject(F.service, top.service, 'service') ?? {}
  if (top.grants !== null && typeof top.grants === 'object' && 'services' in top.grants)
    fail(
      'grants.services',
      'replaced by grants.outbound: grant "http://<name>.service.consul" and call it with plain HTTP',
    )
  const grants = readObject(F.grants, top.grants, 'grants')
  const limits = readObject(F.limits, top.limits, 'limits')
  const resources = readObject(F.resources, top.resources, 'resources')
  const envMap = readMap(F.env, top.env, 'env')
  const env =
    envMap &&
    Object.fromEntries(
      Object.entries(envMap).map(([k, v]) => [k, readString(F.env.values, v, `env.${k}`) ?? '']),
    )

  const S = F.service.fields
  const serviceName = readString(S.name, service.name, 'service.name') ?? name
  const G = F.grants.fields
  const L = F.limits.fields
  const spec: WasmServiceSpec = defined({
    name,
    component: defined({ sha256, source }),
    count: readInt(F.count, top.count, 'count'),
    port,
    service: defined({
      name: serviceName,
      checkPath: readString(S.checkPath, service.checkPath, 'service.checkPath'),
      checkIntervalSeconds: readInt(
        S.checkIntervalSeconds,
        service.checkIntervalSeconds,
        'service.checkIntervalSeconds',
      ),
    }),
    instances: readInt(F.instances, top.instances, 'instances'),
    grants:
      grants &&
      defined({
        buckets: readStrings(G.buckets, grants.buckets, 'grants.buckets'),
        requestLog: readBool(G.requestLog, grants.requestLog, 'grants.requestLog'),
        outbound: readStrings(G.outbound, grants.outbound, 'grants.outbound'),
        mail: mailGrant(grants.mail),
      }),
    limits:
      limits &&
      defined({
        requestTimeout: readString(L.requestTimeout, limits.requestTimeout, 'limits.requestTimeout'),
        maxRequestBody: readString(L.maxRequestBody, limits.maxRequestBody, 'limits.maxRequestBody'),
        instanceMemory: readString(L.instanceMemory, limits.instanceMemory, 'limits.instanceMemory'),
      }),
    env,
    resources: resources && {
      cpu: readInt(F.resources.fields.cpu, resources.cpu, 'resources.cpu'),
      memoryMB: readInt(F.resources.fields.memoryMB, resources.memoryMB, 'resources.memoryMB'),
    },
    ingress: ingress(F.ingress, top.ingress, 'ingress', serviceName),
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
  const [none, recipients] = WASM_SERVICE_DOCUMENT.fields.grants.fields.mail.options
  if (value === undefined || value === none.value) return undefined
  if (value === true)
    return fail(
      'grants.mail',
      'name the recipients or domains this app may mail, e.g. ["example.com", "ops@example.org"]; true would let it mail anyone',
    )
  return readStrings(recipients, value, 'grants.mail')
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
