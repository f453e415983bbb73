// The agent-side `plugin "wasm" { config { … } }` block: its hclspec (no
// required attributes, so an agent without a config block still starts) and
// its validation.
import os from 'node:os'
import path from 'node:path'
import { DriverError } from '../kit/errors.ts'
import type { S3Access } from './fetch-component.ts'
import type { SmtpRelay } from '../capabilities/mail-capability.ts'
import type { HclSpec } from '../kit/hclspec.ts'
import { parseComponentSources, type ComponentSources } from './component-sources-config.ts'

const optional = (name: string): HclSpec => ({ Attr: { name, type: 'string', required: false } })
const list = (name: string): HclSpec => ({ Attr: { name, type: 'list(string)', required: false } })

export const pluginConfigSpec: HclSpec = {
  object: {
    attributes: {
      cache_dir: optional('cache_dir'),
      s3_endpoint: optional('s3_endpoint'),
      s3_access_key: optional('s3_access_key'),
      s3_secret_key: optional('s3_secret_key'),
      s3_region: optional('s3_region'),
      // A PEM file of the CAs an https s3_endpoint's certificate must chain to (the cloud's own); absent: the system's roots.
      s3_ca_file: optional('s3_ca_file'),
      // `s3_bucket "<name>" { access_key = … secret_key = … }`: a labelled block per data bucket (an
      // agent config is HCL1, which turns a map attribute into a list of maps; blocks decode cleanly).
      s3_bucket: {
        block_map: {
          name: 's3_bucket',
          labels: ['bucket'],
          nested: { object: { attributes: { access_key: optional('access_key'), secret_key: optional('secret_key') } } },
        },
      },
      database_url: optional('database_url'),
      consul_dns_addr: optional('consul_dns_addr'),
      // A PEM file of CAs that https outbound grants trust besides the system's (the cloud's own CA).
      outbound_ca_file: optional('outbound_ca_file'),
      smtp_addr: optional('smtp_addr'),
      smtp_from: optional('smtp_from'),
      // A PEM file of the CAs the SMTP relay's STARTTLS certificate must chain to (the cloud's own); absent: the system's roots.
      smtp_ca_file: optional('smtp_ca_file'),
      wasmtime_host: optional('wasmtime_host'),
      // Where components may come from besides s3://artifacts/components/<sha256>.wasm (none by default).
      component_paths: list('component_paths'),
      component_hosts: list('component_hosts'),
      component_max_size: optional('component_max_size'),
    },
  },
}

export interface PluginConfig {
  /** Where components, and what the host compiles of them, are cached by digest. */
  readonly cacheDir: string
  /** The fetch-only identity (read artifacts): s3:// components. Never used for the tasks' buckets. */
  readonly s3?: S3Access
  /** Each data bucket's own identity, by bucket; a task's capability API gets only those of its grants. */
  readonly s3Buckets: Readonly<Record<string, S3Access>>
  /** Backs the request-log capability. */
  readonly databaseUrl?: string
  /** host:port of Consul DNS: where `*.service.consul` outbound grants and the outbox find their service. */
  readonly consulDns?: string
  /** CAs https outbound grants trust besides the system's. */
  readonly outboundCaFile?: string
  /** The SMTP relay behind the mail capability. */
  readonly smtp?: SmtpRelay
  /** The wasmtime host (lean-wasm-host) that runs every task; without it this client runs none. */
  readonly wasmtimeHost?: string
  /** component_paths, component_hosts, component_max_size; absent: the artifacts object only, 256 MiB. */
  readonly componentSources?: ComponentSources
}

export const defaultCacheDir = () => path.join(os.tmpdir(), 'lean-cloud-wasm-cache')

export function parsePluginConfig(raw: Record<string, unknown>): PluginConfig {
  const get = (k: string) => (typeof raw[k] === 'string' && raw[k] !== '' ? (raw[k] as string) : undefined)
  const cacheDir = get('cache_dir') ?? defaultCacheDir()
  if (!path.isAbsolute(cacheDir)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config cache_dir: must be an absolute path, got ${cacheDir}`)
  const databaseUrl = get('database_url')
  const consulDns = get('consul_dns_addr')
  if (consulDns && !/^[^:\s]+:\d+$/.test(consulDns)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config consul_dns_addr: expected host:port, got ${consulDns}`)
  const outboundCaFile = get('outbound_ca_file')
  if (outboundCaFile && !path.isAbsolute(outboundCaFile)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config outbound_ca_file: must be an absolute path, got ${outboundCaFile}`)
  const smtpAddr = get('smtp_addr')
  const smtpMatch = smtpAddr === undefined ? undefined : /^([^:\s]+):(\d+)$/.exec(smtpAddr)
  if (smtpAddr && !smtpMatch) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config smtp_addr: expected host:port, got ${smtpAddr}`)
  const smtpCaFile = get('smtp_ca_file')
  if (smtpCaFile && !path.isAbsolute(smtpCaFile)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config smtp_ca_file: must be an absolute path, got ${smtpCaFile}`)
  const smtp = smtpMatch
    ? { host: smtpMatch[1]!, port: Number(smtpMatch[2]), from: get('smtp_from') ?? 'Lean Cloud <noreply@lean-cloud.localhost>', ...(smtpCaFile && { caFile: smtpCaFile }) }
    : undefined
  const wasmtimeHost = get('wasmtime_host')
  if (wasmtimeHost && !path.isAbsolute(wasmtimeHost)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config wasmtime_host: must be an absolute path, got ${wasmtimeHost}`)
  const componentSources = parseComponentSources(raw)
  const base = { cacheDir, s3Buckets: {}, componentSources, ...(databaseUrl && { databaseUrl }), ...(consulDns && { consulDns }), ...(outboundCaFile && { outboundCaFile }), ...(smtp && { smtp }), ...(wasmtimeHost && { wasmtimeHost }) }
  const endpoint = get('s3_endpoint')
  const bucketKeys = bucketBlocks(raw.s3_bucket)
  if (!endpoint) {
    const [first] = Object.keys(bucketKeys)
    if (first !== undefined) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config s3_bucket "${first}": needs s3_endpoint`)
    return base
  }
  const accessKey = get('s3_access_key')
  const secretKey = get('s3_secret_key')
  if (!accessKey || !secretKey) {
    throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'plugin config s3_access_key and s3_secret_key: required when s3_endpoint is set')
  }
  try {
    new URL(endpoint)
  } catch {
    throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config s3_endpoint: not a URL: ${endpoint}`)
  }
  const region = get('s3_region') ?? 'us-east-1'
  const caFile = get('s3_ca_file')
  if (caFile && !path.isAbsolute(caFile)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config s3_ca_file: must be an absolute path, got ${caFile}`)
  const server = { endpoint, region, ...(caFile && { caFile }) }
  const s3Buckets = Object.fromEntries(Object.entries(bucketKeys).map(([bucket, keys]) => [bucket, { ...server, ...keys }]))
  return { ...base, s3: { ...server, accessKey, secretKey }, s3Buckets }
}

/** S3's rule for bucket names (lower-case letters, digits, dots and hyphens; 3 to 63 long). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** The `s3_bucket "<name>"` blocks, as Nomad decodes them (a map by label; absent: null or {}). */
function bucketBlocks(raw: unknown): Record<string, { accessKey: string; secretKey: string }> {
  if (raw === undefined || raw === null) return {}
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'plugin config s3_bucket: expected labelled blocks s3_bucket "<bucket>" { access_key = … secret_key = … }')
  const out: Record<string, { accessKey: string; secretKey: string }> = {}
  for (const [bucket, block] of Object.entries(raw as Record<string, unknown>)) {
    const field = `plugin config s3_bucket "${bucket}"`
    if (!BUCKET_NAME.test(bucket)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `${field}: not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)`)
    const keys = (block ?? {}) as Record<string, unknown>
    const key = (name: string) => {
      const value = keys[name]
      if (typeof value !== 'string' || value === '') throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `${field} ${name}: required`)
      return value
    }
    out[bucket] = { accessKey: key('access_key'), secretKey: key('secret_key') }
  }
  return out
}
