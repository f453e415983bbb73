// Renders a Nomad job for virtual machines run by our own `virt` task driver
// (task-driver/virt), from a small typed spec. Pure: no I/O, deterministic
// output.
//
// The contract with the driver is the task's `config {}` block:
// - `image_sha256`: the image manifest's digest (the image's identity); the
//   driver fetches `images/<sha256>.json` from the artifacts bucket, or from
//   `image` when given (s3://bucket/key or an absolute path), and verifies it
//   and every file it names.
// - `vcpus`, `memory` (guest memory), `hostname`, `user_data`,
//   `ssh_authorized_keys`, `cmds`, and `disk_size` (the overlay's virtual
//   size; disk images only).
// - `ports`: labels of the group's host-mode ports; each port's `To` is the
//   guest port the driver forwards the host port to.
// - `egress`: Consul service names the guest may reach (each at a fixed
//   address inside its user network, through a proxy of the driver's).
// The task's `resources { memory }` is guest memory plus QEMU's own overhead
// (VM_MEMORY_OVERHEAD_MIB), so Nomad reserves what the driver's cgroup lets the
// VM take; its `cpu` is the document's `cpu` or DEFAULT_VM_CPU_MHZ per vCPU.
import { renderPlacement, type Placement } from './placement.ts'
import { fieldValue, parseSize } from '../ground/units.ts'
import { assertNotReserved } from './app-names.ts'
import { SpecError } from './errors.ts'
import { CHECK_PATH, CHECK_PATH_RULE, ingressTags, type IngressSpec } from './ingress.ts'
import { literalConfig, serviceJobHead, type NomadJob } from './nomad-job.ts'

export type VmState = 'running' | 'stopped'

export interface VmSpec {
  /** Job, group and task name: lower-case letters, digits and dashes. */
  readonly name: string
  readonly image: {
    /** The image manifest's sha256. */
    readonly sha256: string
    /** Where the manifest is; default `s3://artifacts/images/<sha256>.json` (the driver's default). */
    readonly source?: string
  }
  /** Virtual CPUs of each VM. */
  readonly vcpus: number
  /** Guest memory, a size such as "256MiB" or "2GiB". */
  readonly memory: string
  /** The task's CPU reservation in MHz (Nomad's `cpu`); default DEFAULT_VM_CPU_MHZ × vcpus. */
  readonly cpu?: number
  /** Virtual size of the copy-on-write disk over a disk image ("10GiB"); default the image's own. */
  readonly disk?: { readonly size: string }
  readonly cloudInit?: {
    readonly hostname?: string
    /** cloud-config text. */
    readonly userData?: string
    readonly sshAuthorizedKeys?: readonly string[]
    /** Shell commands run once at first boot. */
    readonly commands?: readonly string[]
  }
  /** Port label → TCP port inside the VM; each gets a dynamic host port forwarded to it. */
  readonly ports: Readonly<Record<string, number>>
  /** Consul registration of one forwarded port: an HTTP check with checkPath, else a TCP check. */
  readonly service?: {
    readonly name: string
    readonly port: string
    readonly checkPath?: string
    readonly checkIntervalSeconds?: number
  }
  /** `stopped` keeps the document but runs no VM (the group's count is 0). */
  readonly state: VmState
  readonly count: number
  readonly datacenters?: readonly string[]
  readonly meta?: Readonly<Record<string, string>>
  /** Reached through the cloud's ingress (jobs/ingress.ts); needs `service`. */
  readonly ingress?: IngressSpec
  /** Where its allocations may go: spread over the nodes, kept to nodes whose attributes match. */
  readonly placement?: Placement
  /** Consul services the guest may reach (`<name>.service.consul`); nothing else is reachable. */
  readonly egress?: readonly string[]
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/
const SHA256 = /^[0-9a-f]{64}$/
export const PORT_LABEL = /^[a-z][a-z0-9_]{0,31}$/
// Dot-separated DNS labels, 63 characters at most in all.
export const HOSTNAME =
  /^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/
// Only characters that stay one plain YAML scalar in the seed's user-data.
export const SSH_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [A-Za-z0-9_.@+=-]+)*$/
export const MAX_USER_DATA_BYTES = 32 * 1024
/** cloud-config text: its first line. */
export const CLOUD_CONFIG = /^#cloud-config[ \t]*\r?\n/
/** Of sshAuthorizedKeys, and of commands. */
export const MAX_LIST = 32
const MAX_COMMAND = 4096
/** A command is not blank (white space alone). */
export const NON_BLANK = /\S/
export const MAX_VM_PORTS = 16
/** Each grant takes one address in the guest's network and one proxy on the node. */
export const MAX_EGRESS = 8
const MIB = 1024 * 1024
const MIN_MEMORY_MIB = 64
const MAX_MEMORY_MIB = 1024 * 1024
const MAX_DISK_BYTES = 64 * 1024 ** 4
const SECOND = 1e9 // Nomad durations are nanoseconds
/** A VM's CPU reservation in MHz, as a document may state it. */
export const MIN_VM_CPU_MHZ = 10
export const MAX_VM_CPU_MHZ = 256_000
/**
 * The CPU reservation of each vCPU when the document states none. An idle
 * tiny VM's QEMU (TCG) was measured at 0.35 % (about 9 MHz) of a 2.4 GHz
 * core; Nomad's `cpu` is a share (cgroup cpu weight, and libvirt's
 * cpu_shares for the domain), not a cap, so a busy VM still takes any idle
 * CPU and only competes by this weight under contention. 50 tiny VMs then
 * reserve 50 × DEFAULT_VM_CPU_MHZ of a 2-core node's ~4,890 MHz.
 */
export const DEFAULT_VM_CPU_MHZ = 25
/**
 * Memory Nomad reserves on top of the guest's: QEMU's translation cache under
 * TCG (32 MiB, the driver's default tb_cache) and its own overhead (128 MiB,
 * QEMU_OVERHEAD_MIB), the cgroup hard limit the virt driver sets
 * (task-driver/virt/confinement.ts, memoryHardLimitMiB; a unit test holds the
 * two equal). A tiny VM of 128 MiB measured 206 MiB RSS against 288 reserved.
 */
export const VM_MEMORY_OVERHEAD_MIB = 32 + 128
/** How long the driver may take to shut a guest down before it is destroyed. */
export const VM_KILL_TIMEOUT = 30 * SECOND

const fail = (field: string, reason: string): never => {
  throw new SpecError(field, reason)
}

function size(field: string, raw: string): number {
  return fieldValue(field, () => parseSize(raw), fail)
}

/** Guest memory in MiB (what the driver gives the VM; Nomad reserves vmReservation's memoryMB). */
export function memoryMiB(spec: Pick<VmSpec, 'memory'>): number {
  const mib = Math.floor(size('memory', spec.memory) / MIB)
  if (mib < MIN_MEMORY_MIB || mib > MAX_MEMORY_MIB) fail('memory', 'expected from 64MiB to 1024GiB')
  return mib
}

/** What the task reserves: `cpu` MHz (the document's, else per vCPU) and guest memory + QEMU's overhead in MiB. */
export function vmReservation(spec: Pick<VmSpec, 'memory' | 'vcpus' | 'cpu'>): {
  cpu: number
  memoryMB: number
} {
  return {
    cpu: spec.cpu ?? DEFAULT_VM_CPU_MHZ * spec.vcpus,
    memoryMB: memoryMiB(spec) + VM_MEMORY_OVERHEAD_MIB,
  }
}

/** The size in the largest unit that states it exactly ("10GiB", "1536MiB", or bytes). */
export function canonicalSize(bytes: number): string {
  if (bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}GiB`
  if (bytes % MIB === 0) return `${bytes / MIB}MiB`
  return String(bytes)
}

function checkImage(image: VmSpec['image']): void {
  if (!SHA256.test(image.sha256))
    fail('image.sha256', "expected 64 lower-case hexadecimal characters (the image manifest's digest)")
  const source = image.source
  if (source === undefined) return
  const file = `${image.sha256}.json`
  const s3 = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/([A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/.test(source)
  const local =
    /^(\/[A-Za-z0-9._-]+)+$/.test(source) && !source.split('/').some((s) => s === '.' || s === '..')
  if (!s3 && !local)
    fail(
      'image.source',
      'expected s3://<bucket>/<key> or an absolute path (letters, digits and ._-, no . or .. segments)',
    )
  if (!source.endsWith(`/${file}`))
    fail('image.source', `expected the manifest named by image.sha256: a key or path ending in /${file}`)
}

function checkCloudInit(ci: NonNullable<VmSpec['cloudInit']>): void {
  if (ci.hostname !== undefined && !HOSTNAME.test(ci.hostname)) {
    fail(
      'cloudInit.hostname',
      'expected a host name: dot-separated labels of letters, digits and dashes (not at either end), at most 63 characters',
    )
  }
  if (ci.userData !== undefined) {
    const bytes = Buffer.byteLength(ci.userData)
    if (bytes > MAX_USER_DATA_BYTES)
      fail('cloudInit.userData', `${bytes} bytes is over the limit of ${MAX_USER_DATA_BYTES}`)
    if (!CLOUD_CONFIG.test(ci.userData))
      fail('cloudInit.userData', 'expected cloud-config text: a first line "#cloud-config", then YAML')
  }
  const keys = ci.sshAuthorizedKeys ?? []
  if (keys.length > MAX_LIST) fail('cloudInit.sshAuthorizedKeys', `at most ${MAX_LIST} keys`)
  keys.forEach((key, i) => {
    if (!SSH_KEY.test(key))
      fail(
        `cloudInit.sshAuthorizedKeys[${i}]`,
        'expected one OpenSSH public key on one line ("ssh-ed25519 AAAA… comment"; the comment in letters, digits and ._@+=-)',
      )
  })
  const commands = ci.commands ?? []
  if (commands.length > MAX_LIST) fail('cloudInit.commands', `at most ${MAX_LIST} commands`)
  commands.forEach((command, i) => {
    if (!NON_BLANK.test(command) || /[\r\n\0]/.test(command) || command.length > MAX_COMMAND) {
      fail(
        `cloudInit.commands[${i}]`,
        `expected a non-empty command on one line, at most ${MAX_COMMAND} characters`,
      )
    }
  })
}

function checkEgress(egress: readonly string[]): void {
  if (egress.length > MAX_EGRESS) fail('egress', `at most ${MAX_EGRESS} services`)
  egress.forEach((service, i) => {
    if (!NAME.test(service))
      fail(
        `egress[${i}]`,
        `${JSON.stringify(service)} is not a Consul service name (lower-case letters, digits and dashes)`,
      )
    // The cloud's own services (Consul's API, Nomad's) are never a guest's to reach.
    assertNotReserved(`egress[${i}]`, service)
    if (egress.indexOf(service) !== i) fail(`egress[${i}]`, `"${service}" is granted twice`)
  })
}

/** Checks a spec; every problem names the field (as in the app document) and the reason. */
export function validateVm(spec: VmSpec): void {
  if (!NAME.test(spec.name))
    fail('name', 'expected lower-case letters, digits and dashes, starting with a letter (at most 63)')
  checkImage(spec.image)
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 64)
    fail('vcpus', 'expected a whole number from 1 to 64')
  memoryMiB(spec)
  const cpu = spec.cpu
  if (cpu !== undefined && (!Number.isInteger(cpu) || cpu < MIN_VM_CPU_MHZ || cpu > MAX_VM_CPU_MHZ))
    fail('cpu', `expected a whole number of MHz from ${MIN_VM_CPU_MHZ} to ${MAX_VM_CPU_MHZ}`)
  if (spec.disk !== undefined) {
    const bytes = size('disk.size', spec.disk.size)
    if (bytes < MIB || bytes > MAX_DISK_BYTES) fail('disk.size', 'expected from 1MiB to 65536GiB')
  }
  if (spec.cloudInit) checkCloudInit(spec.cloudInit)
  const labels = Object.keys(spec.ports)
  if (labels.length > MAX_VM_PORTS) fail('ports', `at most ${MAX_VM_PORTS} ports`)
  for (const [label, port] of Object.entries(spec.ports)) {
    if (!PORT_LABEL.test(label))
      fail(
        `ports.${label}`,
        'a port label is lower-case letters, digits and _, starting with a letter (at most 32)',
      )
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      fail(`ports.${label}`, 'expected a TCP port from 1 to 65535 inside the VM')
  }
  if (spec.service) {
    if (!NAME.test(spec.service.name))
      fail('service.name', 'expected a DNS label: lower-case letters, digits and dashes')
    assertNotReserved('service.name', spec.service.name)
    if (!labels.includes(spec.service.port))
      fail('service.port', `expected one of the labels in ports (${labels.join(', ') || 'none declared'})`)
    const path = spec.service.checkPath
    if (path !== undefined && !CHECK_PATH.test(path)) fail('service.checkPath', CHECK_PATH_RULE)
    const s = spec.service.checkIntervalSeconds
    if (s !== undefined && (!Number.isInteger(s) || s < 1 || s > 3600))
      fail('service.checkIntervalSeconds', 'expected a whole number from 1 to 3600')
    if (spec.ingress) ingressTags(spec.ingress, path)
  } else if (spec.ingress) {
    fail('ingress', 'needs service: the ingress finds instances through their Consul service')
  }
  checkEgress(spec.egress ?? [])
  if (spec.state !== 'running' && spec.state !== 'stopped') fail('state', 'expected "running" or "stopped"')
  if (!Number.isInteger(spec.count) || spec.count < 0 || spec.count > 100)
    fail('count', 'expected a whole number from 0 to 100')
}

function serviceOf(spec: VmSpec) {
  const service = spec.service
  if (!service) return []
  const interval = (service.checkIntervalSeconds ?? 10) * SECOND
  const timeout = Math.min(interval, 2 * SECOND)
  const check =
    service.checkPath !== undefined
      ? {
          Name: `${service.name} http`,
          Type: 'http',
          Path: service.checkPath,
          Interval: interval,
          Timeout: timeout,
        }
      : { Name: `${service.name} tcp`, Type: 'tcp', Interval: interval, Timeout: timeout }
  // The host port forwards to the guest, so the check dials the registered (host) address.
  const tags = spec.ingress ? { Tags: ingressTags(spec.ingress, service.checkPath) } : {}
  return [{ Name: service.name, PortLabel: service.port, Provider: 'consul', ...tags, Checks: [check] }]
}

// `satisfies`, not a return type, as for wasm services: callers keep the
// precise shape rendered here.
export function renderVmJob(spec: VmSpec) {
  validateVm(spec)
  const ci = spec.cloudInit
  const keys = ci?.sshAuthorizedKeys ?? []
  const commands = ci?.commands ?? []
  return {
    ...serviceJobHead(spec),
    TaskGroups: [
      {
        Name: spec.name,
        Count: spec.state === 'stopped' ? 0 : spec.count,
        ...renderPlacement(spec.placement),
        // Host networking: the driver forwards each listed host port to the same label's `To` port in the guest.
        Networks: [
          { Mode: 'host', DynamicPorts: Object.entries(spec.ports).map(([Label, To]) => ({ Label, To })) },
        ],
        Tasks: [
          {
            Name: spec.name,
            Driver: 'virt',
            // The driver shuts the guest down (ACPI) and destroys it after this.
            KillTimeout: VM_KILL_TIMEOUT,
            // Every string from the document reaches the driver as text (nomadLiteral).
            Config: literalConfig({
              image_sha256: spec.image.sha256,
              ...(spec.image.source !== undefined && { image: spec.image.source }),
              vcpus: spec.vcpus,
              memory: `${memoryMiB(spec)}MiB`,
              ...(ci?.hostname !== undefined && { hostname: ci.hostname }),
              ...(ci?.userData !== undefined && { user_data: ci.userData }),
              ...(keys.length > 0 && { ssh_authorized_keys: [...keys] }),
              ...(commands.length > 0 && { cmds: [...commands] }),
              ...(spec.disk !== undefined && { disk_size: canonicalSize(size('disk.size', spec.disk.size)) }),
              ports: Object.keys(spec.ports),
              ...(spec.egress !== undefined && spec.egress.length > 0 && { egress: [...spec.egress] }),
            }),
            Services: serviceOf(spec),
            // CPU is a share under contention, not a cap; memory covers QEMU's overhead (see vmReservation).
            Resources: { CPU: vmReservation(spec).cpu, MemoryMB: vmReservation(spec).memoryMB },
          },
        ],
      },
    ],
  } satisfies NomadJob
}
