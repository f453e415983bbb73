// The `config {}` block of a `driver = "virt"` task: its hclspec (Nomad's
// client rejects unknown attributes and wrong types with it) and the checks
// Nomad cannot make (digests, sizes, names, keys). Guest memory is `memory`
// when given (the task's `resources { memory }` then reserves it and QEMU's
// overhead), else the task's `resources { memory }`; vCPUs come from `vcpus` or
// its reserved cores.
import type { HclSpec } from '../kit/hclspec.ts'
import { fieldValue, parseDuration, parseSize } from '../../ground/units.ts'
import { VirtError } from './errors.ts'

const attr = (name: string, type: string, required = false): HclSpec => ({ Attr: { name, type, required } })

export const virtTaskConfigSpec: HclSpec = {
  object: {
    attributes: {
      image_sha256: attr('image_sha256', 'string', true),
      image: attr('image', 'string'),
      vcpus: attr('vcpus', 'number'),
      memory: attr('memory', 'string'),
      hostname: attr('hostname', 'string'),
      user_data: attr('user_data', 'string'),
      ssh_authorized_keys: attr('ssh_authorized_keys', 'list(string)'),
      cmds: attr('cmds', 'list(string)'),
      disk_size: attr('disk_size', 'string'),
      ports: attr('ports', 'list(string)'),
      ready_line: attr('ready_line', 'string'),
      boot_timeout: attr('boot_timeout', 'string'),
      egress: attr('egress', 'list(string)'),
    },
  },
}

export interface VirtTaskConfig {
  /** The image manifest's sha256: the image's identity. */
  readonly imageSha256: string
  /** Where the manifest is: s3://bucket/key or an absolute path (inside the plugin's image_paths). */
  readonly image: string
  readonly vcpus?: number
  /** Guest memory in MiB, when the config states it (else the task's reserved memory). */
  readonly memoryMiB?: number
  readonly hostname?: string
  readonly userData?: string
  readonly sshAuthorizedKeys: readonly string[]
  readonly cmds: readonly string[]
  /** Virtual size of a disk image's overlay, in bytes. */
  readonly diskSizeBytes?: number
  /** Labels of the group's ports forwarded to the guest (the port's `to` is the guest port). */
  readonly ports: readonly string[]
  /** The console line that means "ready"; undefined: the image's own; '' : do not wait. */
  readonly readyLine?: string
  readonly bootTimeoutMs: number
  /** Consul services the guest may reach, each through a proxy of the plugin's (egress.ts). */
  readonly egress: readonly string[]
}

/** The default source of an image: the cloud's artifacts bucket, by digest. */
export const defaultImageSource = (sha256: string) => `s3://artifacts/images/${sha256}.json`

const HOSTNAME = /^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i
const SSH_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/
const PORT_LABEL = /^[a-zA-Z0-9_-]{1,64}$/
const MAX_USER_DATA_BYTES = 64 * 1024
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/
/** One guest address and one proxy each (egress.ts has the addresses). */
export const MAX_EGRESS = 8

function fail(field: string, reason: string): never {
  throw new VirtError('LEAN_ERR_VIRT_CONFIG', `invalid task config: ${field}: ${reason}`)
}

function strings(raw: unknown, field: string): string[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw) || raw.some((v) => typeof v !== 'string')) fail(field, 'expected a list of strings')
  return raw as string[]
}

function optionalString(raw: Record<string, unknown>, field: string): string | undefined {
  const v = raw[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') fail(field, 'expected a string')
  return v
}

/** Validates a decoded config block; every error names the field and the reason. */
export function parseVirtTaskConfig(raw: Record<string, unknown>): VirtTaskConfig {
  const known = Object.keys((virtTaskConfigSpec as { object: { attributes: object } }).object.attributes)
  for (const key of Object.keys(raw))
    if (!known.includes(key)) fail(key, `unknown option (known: ${known.join(', ')})`)

  const imageSha256 = optionalString(raw, 'image_sha256') ?? fail('image_sha256', 'is required')
  if (!/^[0-9a-f]{64}$/.test(imageSha256))
    fail('image_sha256', "expected the image manifest's sha256: 64 lower-case hexadecimal characters")
  const image = optionalString(raw, 'image') ?? defaultImageSource(imageSha256)
  if (!/^s3:\/\/[^/]+\/.+$/.test(image) && !image.startsWith('/'))
    fail('image', `expected s3://bucket/key or an absolute path to a manifest, got ${JSON.stringify(image)}`)
  if (image.startsWith('/') && image.split('/').some((s) => s === '..'))
    fail('image', 'must not contain .. segments')

  const vcpus = raw.vcpus ?? undefined
  if (
    vcpus !== undefined &&
    (typeof vcpus !== 'number' || !Number.isInteger(vcpus) || vcpus < 1 || vcpus > 64)
  )
    fail('vcpus', `expected a whole number from 1 to 64, got ${JSON.stringify(vcpus)}`)

  const memory = optionalString(raw, 'memory')
  let memoryMiB: number | undefined
  if (memory !== undefined) {
    memoryMiB = Math.floor(fieldValue('memory', () => parseSize(memory), fail) / 1024 ** 2)
    if (memoryMiB < 16 || memoryMiB > 1024 * 1024)
      fail('memory', 'expected guest memory from 16MiB to 1024GiB')
  }

  const hostname = optionalString(raw, 'hostname')
  if (hostname !== undefined && !HOSTNAME.test(hostname))
    fail(
      'hostname',
      'expected a host name: letters, digits and dashes in dot-separated labels, at most 63 characters',
    )

  const userData = optionalString(raw, 'user_data')
  if (userData !== undefined) {
    if (Buffer.byteLength(userData) > MAX_USER_DATA_BYTES)
      fail('user_data', `longer than ${MAX_USER_DATA_BYTES} bytes`)
    if (!/^#cloud-config[ \t]*\r?\n/.test(userData))
      fail('user_data', 'expected cloud-config text: a first line "#cloud-config", then YAML')
  }
  const sshAuthorizedKeys = strings(raw.ssh_authorized_keys, 'ssh_authorized_keys')
  sshAuthorizedKeys.forEach(
    (k, i) =>
      SSH_KEY.test(k) ||
      fail(
        `ssh_authorized_keys[${i}]`,
        'expected one OpenSSH public key on one line ("ssh-ed25519 AAAA… comment")',
      ),
  )
  const cmds = strings(raw.cmds, 'cmds')
  // No control characters: YAML (cloud-init's parser) refuses DEL and C1 even inside quotes.
  cmds.forEach(
    (c, i) =>
      // eslint-disable-next-line no-control-regex
      (/[\x00-\x1f\x7f-\x9f]/.test(c) || c.trim() === '') &&
      fail(`cmds[${i}]`, 'expected a non-empty command on one line, without control characters'),
  )

  const diskSize = optionalString(raw, 'disk_size')
  let diskSizeBytes: number | undefined
  if (diskSize !== undefined) {
    diskSizeBytes = fieldValue('disk_size', () => parseSize(diskSize), fail)
    if (diskSizeBytes < 1024 ** 2 || diskSizeBytes > 64 * 1024 ** 4)
      fail('disk_size', 'expected from 1MiB to 64TiB')
  }
  const ports = strings(raw.ports, 'ports')
  ports.forEach(
    (p, i) => PORT_LABEL.test(p) || fail(`ports[${i}]`, `${JSON.stringify(p)} is not a port label`),
  )
  if (new Set(ports).size !== ports.length) fail('ports', 'names a port twice')

  const egress = strings(raw.egress, 'egress')
  if (egress.length > MAX_EGRESS) fail('egress', `at most ${MAX_EGRESS} services`)
  egress.forEach(
    (e, i) =>
      (SERVICE_NAME.test(e) && egress.indexOf(e) === i) ||
      fail(`egress[${i}]`, `${JSON.stringify(e)} is not a Consul service name, or is granted twice`),
  )

  const readyLine = optionalString(raw, 'ready_line')
  if (readyLine !== undefined && /[\r\n]/.test(readyLine)) fail('ready_line', 'expected one line of text')
  let bootTimeoutMs = 300_000
  const bootTimeout = optionalString(raw, 'boot_timeout')
  if (bootTimeout !== undefined) {
    bootTimeoutMs = fieldValue('boot_timeout', () => parseDuration(bootTimeout), fail)
  }

  return {
    imageSha256,
    image,
    sshAuthorizedKeys,
    cmds,
    ports,
    bootTimeoutMs,
    egress,
    ...(vcpus !== undefined && { vcpus: vcpus as number }),
    ...(memoryMiB !== undefined && { memoryMiB }),
    ...(hostname !== undefined && { hostname }),
    ...(userData !== undefined && { userData }),
    ...(diskSizeBytes !== undefined && { diskSizeBytes }),
    ...(readyLine !== undefined && { readyLine }),
  }
}
