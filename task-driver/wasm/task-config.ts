// The `config {}` block a job author writes for `driver = "wasm"`: its hclspec
// (sent to Nomad, so `nomad job validate` rejects unknown keys and wrong types)
// and the validation Nomad cannot do (digests, units, ranges).
import { fieldValue, parseDuration, parseSize } from '../../ground/units.ts'
import { isConsulService, MAX_OUTBOUND_GRANTS, parseOutboundGrant, type OutboundGrant } from '../../ground/outbound-grant.ts'
import { attr, withDefault, type HclSpec } from '../kit/hclspec.ts'
import { defaultComponentSource, locateComponent } from './component-source.ts'
import { DriverError } from '../kit/errors.ts'

// The controller checks a document's component.source with the same rules (jobs import this module only).
export { defaultComponentSource, locateComponent }


/** How far one instance's memory may grow when the job names no instance_memory. */
export const DEFAULT_INSTANCE_MEMORY = '128MiB'
/** The only engine: our wasmtime host. Jobs written when there was a choice may still name it. */
const ENGINE = 'wasmtime'

export const taskConfigSpec: HclSpec = {
  object: {
    attributes: {
      // The app the task belongs to (the controller renders its document's name):
      // the rows of the platform's tables it reaches. Absent: none (NO_APP).
      app: attr('app', 'string'),
      // Absent: the artifacts object its sha256 names (s3://artifacts/components/<sha256>.wasm).
      component: attr('component', 'string'),
      sha256: attr('sha256', 'string', true),
      port: attr('port', 'string', true),
      instances: withDefault('instances', 'number', '4'),
      // Only "wasmtime" (the default); kept so that jobs which name it still validate.
      engine: attr('engine', 'string'),
      // Nomad's jobspec turns `env = { … }` into a list of maps; `any` takes both shapes.
      env: attr('env', 'any'),
      args: attr('args', 'list(string)'),
      request_timeout: withDefault('request_timeout', 'string', '"30s"'),
      max_request_body: withDefault('max_request_body', 'string', '"1MiB"'),
      instance_memory: withDefault('instance_memory', 'string', JSON.stringify(DEFAULT_INSTANCE_MEMORY)),
      // What the component may use through the runner's capability API.
      grants: {
        block_value: {
          name: 'grants',
          required: false,
          nested: {
            object: {
              attributes: {
                buckets: attr('buckets', 'list(string)'),
                request_log: attr('request_log', 'bool'),
                // Where the component's own wasi:http calls may go (ground/outbound-grant.ts).
                outbound: attr('outbound', 'list(string)'),
                // Replaced by `outbound`; still decoded so a job naming it gets our refusal, not Nomad's.
                services: attr('services', 'list(string)'),
                // Earlier jobs' `mail = true` still decodes, and grants nothing: mail_to names who may be mailed.
                mail: attr('mail', 'bool'),
                mail_to: attr('mail_to', 'list(string)'),
              },
            },
          },
        },
      },
    },
  },
}

export interface Grants {
  /** S3 buckets the component may read, write and presign in. */
  readonly buckets: readonly string[]
  /** May append rows to request_logs. */
  readonly requestLog: boolean
  /**
   * Where the component's wasi:http calls may go: a scheme, a host and a port
   * (`<name>.service.consul`: located by SRV). The app's outbox delivers to
   * the Consul services among them.
   */
  readonly outbound: readonly OutboundGrant[]
  /**
   * Whom the component may mail through the client's SMTP relay: addresses
   * (`ops@example.com`) and domains (`example.com`: any address at it), lower
   * case; none when empty.
   */
  readonly mailTo: readonly string[]
}

/**
 * The app of a task whose job names none (an earlier controller's job, or one
 * written by hand), or recovered from state an earlier driver saved: no app is
 * named '' (app names start with a letter), so it reaches no request_logs,
 * outbox or mail_sends row, rather than failing or reaching another app's.
 */
export const NO_APP = ''

/** An app's name, as jobs/spec-fields.ts APP_NAME checks it. */
const APP = /^[a-z][a-z0-9-]{0,62}$/

export interface TaskConfig {
  /** The app the task belongs to; NO_APP when its job names none. */
  readonly app: string
  /** s3://artifacts/components/<sha256>.wasm (the default), http(s)://…, or an absolute path on the client. */
  readonly component: string
  readonly sha256: string
  readonly port: string
  readonly instances: number
  readonly env: Readonly<Record<string, string>>
  readonly args: readonly string[]
  readonly requestTimeoutMs: number
  readonly maxRequestBodyBytes: number
  readonly instanceMemoryBytes: number
  readonly grants: Grants
}

function fail(field: string, reason: string): never {
  throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `invalid task config: ${field}: ${reason}`)
}

/** A size or duration of the task config, refused naming its attribute. */
const size = (field: string, raw: string): number => fieldValue(field, () => parseSize(raw), fail)
const duration = (field: string, raw: string): number => fieldValue(field, () => parseDuration(raw), fail)

function str(raw: Record<string, unknown>, field: string): string {
  const v = raw[field]
  if (typeof v !== 'string' || v === '') fail(field, 'is required and must be a non-empty string')
  return v
}

/** A source of the right form for this digest; whether this client allows it is decided when it is fetched. */
function componentSource(raw: unknown, sha256: string): string {
  if (raw === undefined) return defaultComponentSource(sha256)
  if (typeof raw !== 'string' || raw === '') fail('component', 'must be a non-empty string')
  const found = locateComponent(raw, sha256)
  if ('problem' in found) fail('component', `${JSON.stringify(raw)}: ${found.problem}`)
  return raw
}

/** Validates the decoded config block; every error names the field and the reason. */
export function parseTaskConfig(raw: Record<string, unknown>): TaskConfig {
  const known = new Set(Object.keys((taskConfigSpec as { object: { attributes: object } }).object.attributes))
  for (const key of Object.keys(raw)) if (!known.has(key)) fail(key, 'unknown option')
  if (raw.grants !== undefined && raw.grants !== null) parseGrants(raw.grants)

  const sha256 = str(raw, 'sha256').toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(sha256)) fail('sha256', 'expected 64 hexadecimal characters')

  const instances = raw.instances ?? 4
  if (typeof instances !== 'number' || !Number.isInteger(instances) || instances < 1 || instances > 1024) {
    fail('instances', `expected a whole number from 1 to 1024, got ${JSON.stringify(instances)}`)
  }
  if (raw.engine !== undefined && raw.engine !== ENGINE) {
    fail('engine', `only ${JSON.stringify(ENGINE)} is available (the node engine was removed); remove the attribute or set it to ${JSON.stringify(ENGINE)}, got ${JSON.stringify(raw.engine)}`)
  }

  const rawEnv = raw.env ?? {}
  const env: Record<string, unknown> = Array.isArray(rawEnv) ? Object.assign({}, ...(rawEnv as object[])) : (rawEnv as Record<string, unknown>)
  if (typeof env !== 'object' || env === null || (Array.isArray(rawEnv) && rawEnv.some((e) => typeof e !== 'object' || e === null || Array.isArray(e)))) {
    fail('env', 'expected a map of strings')
  }
  for (const [k, v] of Object.entries(env)) if (typeof v !== 'string') fail(`env.${k}`, 'expected a string')
  const args = (raw.args ?? []) as unknown[]
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) fail('args', 'expected a list of strings')

  if (raw.app !== undefined && (typeof raw.app !== 'string' || !APP.test(raw.app))) {
    fail('app', `expected an app name (lower-case letters, digits and dashes, starting with a letter; at most 63), got ${JSON.stringify(raw.app)}`)
  }

  return {
    app: (raw.app as string | undefined) ?? NO_APP,
    grants: parseGrants(raw.grants),
    component: componentSource(raw.component, sha256),
    sha256,
    port: str(raw, 'port'),
    instances,
    env: env as Record<string, string>,
    args: args as string[],
    requestTimeoutMs: duration('request_timeout', (raw.request_timeout as string | undefined) ?? '30s'),
    maxRequestBodyBytes: size('max_request_body', (raw.max_request_body as string | undefined) ?? '1MiB'),
    instanceMemoryBytes: size('instance_memory', (raw.instance_memory as string | undefined) ?? DEFAULT_INSTANCE_MEMORY),
  }
}

/** A recipient a grant names: one address, or a domain (any address at it, not its subdomains). */
export const MAIL_RECIPIENT = /^([a-z0-9._%+-]{1,64}@)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/

function parseGrants(raw: unknown): Grants {
  // A block arrives as an object, or (through a jobspec) as a list holding one.
  const block = Array.isArray(raw) ? (raw.length > 1 ? fail('grants', 'only one grants block is allowed') : raw[0]) : raw
  if (block === undefined || block === null) return { buckets: [], requestLog: false, outbound: [], mailTo: [] }
  if (typeof block !== 'object') fail('grants', 'expected a block')
  const g = block as Record<string, unknown>
  for (const key of Object.keys(g)) if (!['buckets', 'request_log', 'outbound', 'services', 'mail', 'mail_to'].includes(key)) fail(`grants.${key}`, 'unknown option')
  if (Array.isArray(g.services) && g.services.length > 0)
    fail('grants.services', 'replaced by grants.outbound: grant "http://<name>.service.consul" and call it with plain HTTP')
  const names = (field: string, pattern: RegExp, what: string): string[] => {
    const v = g[field] ?? []
    if (!Array.isArray(v)) fail(`grants.${field}`, 'expected a list of strings')
    for (const item of v as unknown[]) if (typeof item !== 'string' || !pattern.test(item)) fail(`grants.${field}`, `${JSON.stringify(item)} is not ${what}`)
    return v as string[]
  }
  const requestLog = g.request_log ?? false
  if (typeof requestLog !== 'boolean') fail('grants.request_log', 'expected true or false')
  if (g.mail !== undefined && g.mail !== null && typeof g.mail !== 'boolean') fail('grants.mail', 'expected true or false')
  return {
    buckets: names('buckets', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a bucket name'),
    requestLog,
    outbound: outboundGrants(g.outbound),
    mailTo: names('mail_to', MAIL_RECIPIENT, 'an e-mail address or a domain (lower case)'),
  }
}

function outboundGrants(raw: unknown): OutboundGrant[] {
  const list = raw ?? []
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) return fail('grants.outbound', 'expected a list of strings')
  if (list.length > MAX_OUTBOUND_GRANTS) fail('grants.outbound', `at most ${MAX_OUTBOUND_GRANTS} grants`)
  return (list as string[]).map((entry, i) => fieldValue(`grants.outbound[${i}]`, () => parseOutboundGrant(entry), fail))
}

/** The Consul services among the grants: where the app's outbox may deliver. */
export function outboxServices(grants: Pick<Grants, 'outbound'>): string[] {
  return (grants.outbound ?? []).filter((g) => g.scheme === 'http' && isConsulService(g.host)).map((g) => g.host.slice(0, -'.service.consul'.length))
}
