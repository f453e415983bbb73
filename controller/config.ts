// The controller's configuration: read from the environment once at start,
// validated, frozen. Honours Consul's and Nomad's own variables.
import { existsSync } from 'node:fs'
import { cpus, hostname } from 'node:os'
import { DEFAULT_APP_LIMITS, LIMIT_VARIABLES, type AppLimits } from '../jobs/app-limits.ts'
import { parseSize } from '../ground/units.ts'
import { loadControllerKeys as loadKeys, type ControllerKeys } from '../ground/kv-layout.ts'
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from './image-store.ts'
import { DEFAULT_COMPONENT_LIMITS, type ComponentLimits } from './component-store.ts'
import { CaCertError, readCaCerts, type CaCert } from './ca-trust.ts'

export type { ControllerKeys }
export interface ControllerConfig {
  readonly consulAddr: string
  readonly consulToken?: string
  readonly nomadAddr: string
  readonly nomadToken?: string
  /** The Nomad namespace the controller's jobs live in (NOMAD_NAMESPACE, as Nomad's CLI reads it; default `default`). */
  readonly nomadNamespace: string
  /** Desired state: `<appsPrefix><name>`. */
  readonly appsPrefix: string
  /** Status: `<statusPrefix><name>`; a separate prefix, so status writes never wake the spec watch. */
  readonly statusPrefix: string
  /** Apps reconciled at once. */
  readonly workers: number
  /** Where the HTTP API (/health, /ready, /metrics, /v1/apps) listens. */
  readonly http: { readonly host: string; readonly port: number }
  /** The Consul key whose session lock elects the one controller that acts. */
  readonly leaderKey: string
  /** Consul's lock delay after a leader's session is invalidated (e.g. `5s`). */
  readonly lockDelay: string
  /** This instance's name in Consul (service ID, session name, lock holder). */
  readonly instanceId: string
  /** The S3 server VM images are listed in and uploaded to; without it the image endpoints answer 503. */
  readonly s3?: S3Settings
  /** Ceilings on what one app document may ask for (LEAN_LIMIT_*). */
  readonly appLimits: AppLimits
  /** What an uploaded image file may be (LEAN_IMAGE_MAX_FILE_SIZE, LEAN_IMAGE_MAX_DISK_SIZE). */
  readonly images: ImageLimits
  /** What an uploaded component may be (LEAN_COMPONENT_MAX_SIZE). */
  readonly components: ComponentLimits
  /** CAs of HTTPS Consul and Nomad (CONSUL_CACERT, NOMAD_CACERT, *_CAPATH), trusted next to the system's (main.ts). */
  readonly caCerts?: readonly CaCert[]
}

export interface S3Settings {
  readonly endpoint: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
  /** S3_CACERT: the CA an https endpoint's certificate must chain to (the local cloud's); absent: the system's roots. */
  readonly caFile?: string
}

/** The S3 variables the controller reads: the cloud's, with the publisher's keys (read, list and write `artifacts`). */
export const S3_VARIABLES = ['S3_ENDPOINT', 'S3_PUBLISHER_ACCESS_KEY', 'S3_PUBLISHER_SECRET_KEY'] as const

export class ControllerConfigError extends Error {
  readonly code = 'LEAN_ERR_CONTROLLER_CONFIG' as const
}

/** An HTTP address as Consul's and Nomad's CLIs take it: a bare host:port gets http:// (https:// with `ssl`). */
export function httpOrigin(name: string, value: string | undefined, fallback: string, ssl = false): string {
  const raw = value && value !== '' ? value : fallback
  const withScheme = /^https?:\/\//.test(raw) ? raw : `${ssl ? 'https' : 'http'}://${raw}`
  try {
    return new URL(withScheme).origin
  } catch {
    throw new ControllerConfigError(`${name}: not an address: ${raw}`)
  }
}

/** CONSUL_HTTP_SSL as the consul CLI reads it (a Go boolean): https for an address without a scheme. */
function consulSsl(value: string | undefined): boolean {
  if (value === undefined || value === '') return false
  if (/^(1|t|true|TRUE|True)$/.test(value)) return true
  if (/^(0|f|false|FALSE|False)$/.test(value)) return false
  throw new ControllerConfigError(`CONSUL_HTTP_SSL: expected true or false, got ${value}`)
}

/** The CA files the environment names, read now: a missing or unreadable one is a configuration error naming its variable. */
export function caCertsOf(
  env: Record<string, string | undefined>,
  variables?: Parameters<typeof readCaCerts>[1],
): CaCert[] {
  try {
    return readCaCerts(env, variables)
  } catch (err) {
    if (err instanceof CaCertError) throw new ControllerConfigError(err.message)
    throw err
  }
}

function listenAddress(
  name: string,
  value: string | undefined,
  fallback: string,
): { host: string; port: number } {
  const raw = value && value !== '' ? value : fallback
  const match = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(raw)
  const port = Number(match?.[2])
  if (!match || port > 65535) throw new ControllerConfigError(`${name}: expected host:port, got ${raw}`)
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
}

/** A Nomad namespace name as Nomad accepts it. */
function namespace(value: string | undefined): string {
  const raw = value && value !== '' ? value : 'default'
  if (!/^[a-zA-Z0-9-]{1,128}$/.test(raw))
    throw new ControllerConfigError(
      `NOMAD_NAMESPACE: expected letters, digits and dashes (at most 128), got ${raw}`,
    )
  return raw
}

/** The controller's keys in Consul KV (ground/kv-layout.ts), refused as the controller's configuration. */
export function loadControllerKeys(env: Record<string, string | undefined>): ControllerKeys {
  return loadKeys(env, (variable, reason) => {
    throw new ControllerConfigError(`${variable}: ${reason}`)
  })
}

function instanceId(value: string | undefined): string {
  const raw = value && value !== '' ? value : `${hostname()}-${process.pid}`
  const id = raw.replace(/[^A-Za-z0-9-]/g, '-')
  if (id.length > 100) throw new ControllerConfigError('LEAN_CONTROLLER_ID: longer than 100 characters')
  return id
}

function duration(name: string, value: string | undefined, fallback: string, maxSeconds: number): string {
  const raw = value && value !== '' ? value : fallback
  const match = /^(\d+)(ms|s)$/.exec(raw)
  const seconds = match ? Number(match[1]) / (match[2] === 'ms' ? 1000 : 1) : NaN
  if (!(seconds >= 0 && seconds <= maxSeconds))
    throw new ControllerConfigError(
      `${name}: expected a duration like 5s or 500ms, at most ${maxSeconds}s, got ${raw}`,
    )
  return raw
}

/** All of S3_ENDPOINT and the publisher's keys, or none of them (no image endpoints). */
function s3Settings(env: Record<string, string | undefined>): S3Settings | undefined {
  const given = S3_VARIABLES.filter((name) => env[name] !== undefined && env[name] !== '')
  if (given.length === 0) return undefined
  const missing = S3_VARIABLES.filter((name) => !given.includes(name))
  if (missing.length > 0)
    throw new ControllerConfigError(
      `${missing.join(', ')}: required with ${given.join(', ')} (the image endpoints need all of ${S3_VARIABLES.join(', ')}, or none)`,
    )
  const endpoint = env.S3_ENDPOINT!
  let url: URL | undefined
  try {
    url = new URL(endpoint)
  } catch {
    // reported below
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search !== '') {
    throw new ControllerConfigError(`S3_ENDPOINT: expected http(s)://host[:port], got ${endpoint}`)
  }
  const region = env.S3_REGION && env.S3_REGION !== '' ? env.S3_REGION : 'us-east-1'
  if (!/^[a-z0-9-]{1,64}$/.test(region))
    throw new ControllerConfigError(`S3_REGION: expected a region name such as us-east-1, got ${region}`)
  const caFile = env.S3_CACERT
  if (caFile && !existsSync(caFile)) throw new ControllerConfigError(`S3_CACERT: no such file: ${caFile}`)
  return {
    endpoint: url.origin,
    accessKey: env.S3_PUBLISHER_ACCESS_KEY!,
    secretKey: env.S3_PUBLISHER_SECRET_KEY!,
    region,
    ...(caFile && { caFile }),
  }
}

/** A size variable such as 8GiB; its default when unset. */
function size(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback
  try {
    return parseSize(value)
  } catch {
    throw new ControllerConfigError(`${name}: expected a size such as 512MiB or 8GiB, got ${value}`)
  }
}

function imageLimits(env: Record<string, string | undefined>): ImageLimits {
  return {
    maxFileBytes: size(
      'LEAN_IMAGE_MAX_FILE_SIZE',
      env.LEAN_IMAGE_MAX_FILE_SIZE,
      DEFAULT_IMAGE_LIMITS.maxFileBytes,
    ),
    maxDiskBytes: size(
      'LEAN_IMAGE_MAX_DISK_SIZE',
      env.LEAN_IMAGE_MAX_DISK_SIZE,
      DEFAULT_IMAGE_LIMITS.maxDiskBytes,
    ),
  }
}

/** LEAN_LIMIT_*: each a size (a whole number for vCPUs); the vCPU default is this host's count, at most the safe default. */
function appLimits(env: Record<string, string | undefined>): AppLimits {
  const vcpusRaw = env[LIMIT_VARIABLES.maxVmVcpus]
  let maxVmVcpus = Math.min(DEFAULT_APP_LIMITS.maxVmVcpus, cpus().length || 1)
  if (vcpusRaw !== undefined && vcpusRaw !== '') {
    maxVmVcpus = Number(vcpusRaw)
    if (!Number.isInteger(maxVmVcpus) || maxVmVcpus < 1 || maxVmVcpus > 64)
      throw new ControllerConfigError(`${LIMIT_VARIABLES.maxVmVcpus}: expected a whole number from 1 to 64, got ${vcpusRaw}`)
  }
  const sized = (key: 'maxRequestBodyBytes' | 'maxVmMemoryBytes' | 'maxVmDiskBytes') =>
    size(LIMIT_VARIABLES[key], env[LIMIT_VARIABLES[key]], DEFAULT_APP_LIMITS[key])
  return {
    maxRequestBodyBytes: sized('maxRequestBodyBytes'),
    maxVmVcpus,
    maxVmMemoryBytes: sized('maxVmMemoryBytes'),
    maxVmDiskBytes: sized('maxVmDiskBytes'),
  }
}

export function loadControllerConfig(
  env: Record<string, string | undefined> = process.env,
): ControllerConfig {
  const workers = Number(env.LEAN_CONTROLLER_WORKERS ?? 4)
  if (!Number.isInteger(workers) || workers < 1 || workers > 64)
    throw new ControllerConfigError('LEAN_CONTROLLER_WORKERS: expected a whole number from 1 to 64')
  const s3 = s3Settings(env)
  const caCerts = caCertsOf(env)
  const config: ControllerConfig = {
    consulAddr: httpOrigin(
      'CONSUL_HTTP_ADDR',
      env.CONSUL_HTTP_ADDR,
      '127.0.0.1:8500',
      consulSsl(env.CONSUL_HTTP_SSL),
    ),
    ...(env.CONSUL_HTTP_TOKEN && { consulToken: env.CONSUL_HTTP_TOKEN }),
    nomadAddr: httpOrigin('NOMAD_ADDR', env.NOMAD_ADDR, '127.0.0.1:4646'),
    ...(env.NOMAD_TOKEN && { nomadToken: env.NOMAD_TOKEN }),
    nomadNamespace: namespace(env.NOMAD_NAMESPACE),
    ...loadControllerKeys(env),
    workers,
    http: listenAddress('LEAN_CONTROLLER_HTTP_ADDR', env.LEAN_CONTROLLER_HTTP_ADDR, '127.0.0.1:4680'),
    lockDelay: duration('LEAN_LOCK_DELAY', env.LEAN_LOCK_DELAY, '5s', 60),
    instanceId: instanceId(env.LEAN_CONTROLLER_ID),
    ...(s3 && { s3: Object.freeze(s3) }),
    images: Object.freeze(imageLimits(env)),
    components: Object.freeze({
      maxBytes: size('LEAN_COMPONENT_MAX_SIZE', env.LEAN_COMPONENT_MAX_SIZE, DEFAULT_COMPONENT_LIMITS.maxBytes),
    }),
    appLimits: Object.freeze(appLimits(env)),
    ...(caCerts.length > 0 && { caCerts: Object.freeze(caCerts) }),
  }
  return Object.freeze(config)
}
