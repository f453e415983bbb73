// The agent-side `plugin "virt" { config { … } }` block: its hclspec and its
// validation. Read once, when Nomad hands it over (SetConfig).
import os from 'node:os'
import path from 'node:path'
import type { S3Access } from '../../ground/s3-client.ts'
import type { HclSpec } from '../kit/hclspec.ts'
import { VirtError } from './errors.ts'

const attr = (name: string, type: string): HclSpec => ({ Attr: { name, type, required: false } })

export const virtPluginConfigSpec: HclSpec = {
  object: {
    attributes: {
      libvirt_uri: attr('libvirt_uri', 'string'),
      image_paths: attr('image_paths', 'list(string)'),
      image_cache_dir: attr('image_cache_dir', 'string'),
      probe_image: attr('probe_image', 'string'),
      accelerator: attr('accelerator', 'string'),
      tb_cache_mib: attr('tb_cache_mib', 'number'),
      s3_endpoint: attr('s3_endpoint', 'string'),
      s3_access_key: attr('s3_access_key', 'string'),
      s3_secret_key: attr('s3_secret_key', 'string'),
      s3_region: attr('s3_region', 'string'),
      // A PEM file of the CAs an https s3_endpoint's certificate must chain to (the cloud's own); absent: the system's roots.
      s3_ca_file: attr('s3_ca_file', 'string'),
      consul_dns_addr: attr('consul_dns_addr', 'string'),
    },
  },
}

export const ACCELERATORS = ['auto', 'kvm', 'tcg'] as const
export type AcceleratorChoice = (typeof ACCELERATORS)[number]

export interface VirtPluginConfig {
  /** The libvirt daemon's connection URI (the cloud's own: `qemu:///system?socket=…`). */
  readonly libvirtUri: string
  /** Directories a task may name a local image manifest in; nothing outside them is read. */
  readonly imagePaths: readonly string[]
  /** Verified image files, by digest (`<sha256>.<ext>`), shared by the node's tasks. */
  readonly imageCacheDir: string
  /** A kernel image's manifest (inside imagePaths) booted once with KVM to decide the accelerator. */
  readonly probeImage?: string
  /** `auto` probes; `kvm` or `tcg` skip the probe. */
  readonly accelerator: AcceleratorChoice
  /** QEMU's TCG translation cache per VM (its own default is 1 GiB). */
  readonly tbCacheMiB: number
  /** Where s3:// images come from. */
  readonly s3?: S3Access
  /** Consul DNS (host:port): where a guest's granted services are looked up (egress.ts); no token needed. */
  readonly consulDns?: string
}

export const defaultVirtConfig = (): VirtPluginConfig => ({
  libvirtUri: 'qemu:///system',
  imagePaths: [],
  imageCacheDir: path.join(os.tmpdir(), 'lean-cloud-virt-images'),
  accelerator: 'auto',
  tbCacheMiB: 32,
})

function fail(attribute: string, reason: string): never {
  throw new VirtError('LEAN_ERR_VIRT_CONFIG', `plugin config ${attribute}: ${reason}`)
}

const absolute = (attribute: string, value: string): string =>
  path.isAbsolute(value)
    ? path.normalize(value)
    : fail(attribute, `must be an absolute path, got ${JSON.stringify(value)}`)

export function parseVirtPluginConfig(raw: Record<string, unknown>): VirtPluginConfig {
  const defaults = defaultVirtConfig()
  const str = (k: string) => (typeof raw[k] === 'string' && raw[k] !== '' ? (raw[k] as string) : undefined)
  const libvirtUri = str('libvirt_uri') ?? defaults.libvirtUri
  if (!/^qemu(\+\w+)?:\/\//.test(libvirtUri))
    fail(
      'libvirt_uri',
      `expected a QEMU connection URI such as qemu:///system, got ${JSON.stringify(libvirtUri)}`,
    )
  const rawPaths = raw.image_paths ?? []
  if (!Array.isArray(rawPaths) || rawPaths.some((p) => typeof p !== 'string'))
    fail('image_paths', 'expected a list of absolute paths')
  const imagePaths = (rawPaths as string[]).map((p) => absolute('image_paths', p))
  const imageCacheDir = absolute('image_cache_dir', str('image_cache_dir') ?? defaults.imageCacheDir)
  const rawProbe = str('probe_image')
  const probeImage = rawProbe === undefined ? undefined : absolute('probe_image', rawProbe)
  const accelerator = (str('accelerator') ?? 'auto') as AcceleratorChoice
  if (!ACCELERATORS.includes(accelerator))
    fail('accelerator', `expected one of ${ACCELERATORS.join(', ')}, got ${JSON.stringify(accelerator)}`)
  const tb = raw.tb_cache_mib ?? defaults.tbCacheMiB
  if (typeof tb !== 'number' || !Number.isInteger(tb) || tb < 1 || tb > 4096)
    fail('tb_cache_mib', `expected a whole number of MiB from 1 to 4096, got ${JSON.stringify(tb)}`)
  const consulDns = str('consul_dns_addr')
  if (consulDns !== undefined && !/^[^:\s]+:\d+$/.test(consulDns))
    fail('consul_dns_addr', `expected host:port, got ${JSON.stringify(consulDns)}`)
  const base: VirtPluginConfig = {
    libvirtUri,
    imagePaths,
    imageCacheDir,
    accelerator,
    tbCacheMiB: tb,
    ...(probeImage && { probeImage }),
    ...(consulDns && { consulDns }),
  }
  const endpoint = str('s3_endpoint')
  if (!endpoint) return base
  const accessKey = str('s3_access_key')
  const secretKey = str('s3_secret_key')
  if (!accessKey || !secretKey) fail('s3_access_key and s3_secret_key', 'required when s3_endpoint is set')
  if (!URL.canParse(endpoint)) fail('s3_endpoint', `not a URL: ${endpoint}`)
  const caFile = str('s3_ca_file')
  if (caFile !== undefined && !path.isAbsolute(caFile)) fail('s3_ca_file', `must be an absolute path, got ${caFile}`)
  return { ...base, s3: { endpoint, accessKey, secretKey, region: str('s3_region') ?? 'us-east-1', ...(caFile && { caFile }) } }
}
