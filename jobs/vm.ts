// Renders a Nomad job for a virtual machine run by HashiCorp's libvirt task
// driver (nomad-driver-virt, driver name `virt`), from a small typed spec.
// Pure: no I/O, deterministic output.
//
// What the driver takes (its task config schema, checked against the
// driver's source, release 0.0.2-beta.1 and main):
// - `disk` blocks; the primary one boots and is written from `source.image`,
//   a file on the client host: absolute and under the plugin's
//   `image_paths`, or relative, then looked up in the task and alloc dirs
//   (where a Nomad artifact lands). The older top-level `image`,
//   `primary_disk_size` and `use_thin_copy` are deprecated in 0.0.2 and
//   removed on main, so they are not used here.
// - vCPUs are the task's reserved `cores` (one vCPU each; `cpu` MHz are
//   ignored), memory is the task's `memory` in MiB (at least 500).
// - `user_data` is a path the plugin process opens itself, or, when the value
//   cannot be a file name, the user data text itself.
import { parseSize } from '../task-driver/task-config.ts'
import { JobSpecError } from './errors.ts'
import { serviceJobHead, type NomadJob } from './nomad-job.ts'

export interface VmSpec {
  /** Job, group and task name: lower-case letters, digits and dashes. */
  readonly name: string
  /** Boot image: an absolute path on the client host, or an http(s) URL fetched as a Nomad artifact. */
  readonly image: string
  /** Host cores reserved for the VM; one vCPU each. */
  readonly vcpus: number
  /** Guest memory, a size such as "2GiB" or "512MiB". */
  readonly memory: string
  readonly disks?: {
    /** Size of the boot disk ("20GiB"); default the image's own size. */
    readonly primarySize?: string
    /** Make the boot disk a copy-on-write overlay on the image instead of a full copy. */
    readonly thinCopy?: boolean
  }
  readonly cloudInit?: {
    /** cloud-config text, merged by cloud-init with what the driver adds. */
    readonly userData?: string
    /** One OpenSSH public key for the image's default user. */
    readonly sshAuthorizedKey?: string
    /** Initial password of the image's default user. */
    readonly password?: string
  }
  readonly network: {
    /** Host bridge the VM's one interface joins (libvirt's default network is virbr0). */
    readonly bridge: string
    /** Port label → TCP port inside the VM; each gets a dynamic host port forwarded to it. */
    readonly ports: Readonly<Record<string, number>>
  }
  readonly count: number
  /** Consul registration of one forwarded port, checked over TCP. */
  readonly service?: { readonly name: string; readonly port: string; readonly checkIntervalSeconds?: number }
  readonly datacenters?: readonly string[]
  readonly meta?: Readonly<Record<string, string>>
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/
// The driver names the guest `nomad-<task>-<8 characters>` and refuses host
// names over 63 characters.
const MAX_VM_NAME = 48
const PORT_LABEL = /^[a-z][a-z0-9_]{0,31}$/
const BRIDGE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/
// The driver writes the key and the password into cloud-init YAML as they
// are, so only characters that stay one plain YAML scalar are accepted.
const SSH_KEY = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [A-Za-z0-9_.@+=-]+)*$/
const PASSWORD = /^[A-Za-z][A-Za-z0-9._+=@-]{7,127}$/
const MAX_USER_DATA_BYTES = 32 * 1024
const MIB = 1024 * 1024
const MIN_MEMORY_MIB = 512
const MAX_MEMORY_MIB = 1024 * 1024
const MAX_DISK_BYTES = 64 * 1024 ** 4
const SECOND = 1e9 // Nomad durations are nanoseconds

const fail = (field: string, reason: string): never => {
  throw new JobSpecError(field, reason)
}

function size(field: string, raw: string): number {
  try {
    return parseSize(field, raw)
  } catch (err) {
    return fail(field, (err as Error).message.replace(/^invalid task config: [^:]+: /, ''))
  }
}

/** Guest memory in MiB (what Nomad reserves and the driver gives the VM). */
function memoryMiB(spec: Pick<VmSpec, 'memory'>): number {
  const mib = Math.floor(size('memory', spec.memory) / MIB)
  if (mib < MIN_MEMORY_MIB || mib > MAX_MEMORY_MIB) fail('memory', 'expected from 512MiB to 1024GiB (the driver needs at least 500 MiB)')
  return mib
}

function checkImage(image: string): void {
  if (/[$%]\{/.test(image)) fail('image', 'must not contain ${ or %{ (Nomad would interpolate them)')
  if (image.startsWith('/')) {
    if (!/^(\/[^/\s]+)+$/.test(image) || image.split('/').some((s) => s === '.' || s === '..')) {
      fail('image', 'expected an absolute path to a file, without . or .. segments')
    }
    return
  }
  let url: URL | undefined
  try {
    url = new URL(image)
  } catch {
    // reported below
  }
  if (!url || !/^https?:$/.test(url.protocol) || !url.hostname || /\s/.test(image)) fail('image', 'expected an absolute path on the client host or an http(s):// URL')
}

/** Checks a spec; every problem names the field (as in the app document) and the reason. */
export function validateVm(spec: VmSpec): void {
  if (!NAME.test(spec.name)) fail('name', 'expected lower-case letters, digits and dashes, starting with a letter (at most 63)')
  if (spec.name.length > MAX_VM_NAME) fail('name', `a vm app name has at most ${MAX_VM_NAME} characters (the driver derives the guest host name from it)`)
  checkImage(spec.image)
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 64) fail('vcpus', 'expected a whole number from 1 to 64')
  memoryMiB(spec)
  if (spec.disks?.primarySize !== undefined) {
    const bytes = size('disks.primarySize', spec.disks.primarySize)
    if (bytes < MIB || bytes > MAX_DISK_BYTES) fail('disks.primarySize', 'expected from 1MiB to 65536GiB')
  }
  const ci = spec.cloudInit
  if (ci?.userData !== undefined) {
    const bytes = Buffer.byteLength(ci.userData)
    if (bytes > MAX_USER_DATA_BYTES) fail('cloudInit.userData', `${bytes} bytes is over the limit of ${MAX_USER_DATA_BYTES}`)
    if (!/^#cloud-config[ \t]*\r?\n/.test(ci.userData)) fail('cloudInit.userData', 'expected cloud-config text: a first line "#cloud-config", then YAML')
  }
  if (ci?.sshAuthorizedKey !== undefined && !SSH_KEY.test(ci.sshAuthorizedKey)) {
    fail('cloudInit.sshAuthorizedKey', 'expected one OpenSSH public key on one line ("ssh-ed25519 AAAA… comment"; the comment in letters, digits and ._@+=-)')
  }
  if (ci?.password !== undefined && !PASSWORD.test(ci.password)) {
    fail('cloudInit.password', 'expected 8 to 128 characters from letters, digits and ._+=@-, starting with a letter')
  }
  if (!BRIDGE.test(spec.network.bridge)) fail('network.bridge', 'expected a Linux interface name (at most 15 letters, digits and _.-)')
  const labels = Object.keys(spec.network.ports)
  if (labels.length > 16) fail('network.ports', 'at most 16 ports')
  for (const [label, port] of Object.entries(spec.network.ports)) {
    if (!PORT_LABEL.test(label)) fail(`network.ports.${label}`, 'a port label is lower-case letters, digits and _, starting with a letter (at most 32)')
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`network.ports.${label}`, 'expected a TCP port from 1 to 65535 inside the VM')
  }
  if (!Number.isInteger(spec.count) || spec.count < 0 || spec.count > 100) fail('count', 'expected a whole number from 0 to 100')
  if (spec.service) {
    if (!NAME.test(spec.service.name)) fail('service.name', 'expected a DNS label: lower-case letters, digits and dashes')
    if (!labels.includes(spec.service.port)) fail('service.port', `expected one of the labels in network.ports (${labels.join(', ') || 'none declared'})`)
    const s = spec.service.checkIntervalSeconds
    if (s !== undefined && (!Number.isInteger(s) || s < 1 || s > 3600)) fail('service.checkIntervalSeconds', 'expected a whole number from 1 to 3600')
  }
}

/**
 * Nomad evaluates every string of a driver config as an HCL template, so
 * `${` and `%{` in user data (shell variables, Jinja) are escaped to stay text.
 */
export function hclLiteral(text: string): string {
  // Replacer functions: in a replacement string `$$` would itself mean `$`.
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{')
}

/** Where an image URL is downloaded, relative to the task dir; the driver looks relative images up there. */
export function artifactDest(url: string): string {
  const last = new URL(url).pathname.split('/').pop() ?? ''
  const file = last.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100)
  return `local/${file === '' || /^\.+$/.test(file) ? 'image' : file}`
}

/** The driver's size grammar is a whole number with an optional unit. */
const diskSize = (bytes: number) => (bytes % MIB === 0 ? `${bytes / MIB}MiB` : String(bytes))

// `satisfies`, not a return type, as for wasm services: callers keep the
// precise shape rendered here.
export function renderVmJob(spec: VmSpec) {
  validateVm(spec)
  const fetched = !spec.image.startsWith('/')
  const ci = spec.cloudInit
  const primarySize = spec.disks?.primarySize
  const interval = (spec.service?.checkIntervalSeconds ?? 10) * SECOND
  return {
    ...serviceJobHead(spec),
    TaskGroups: [
      {
        Name: spec.name,
        Count: spec.count,
        // The driver only supports host networking; it forwards each listed
        // host port to the same label's `To` port on the guest.
        Networks: [{ Mode: 'host', DynamicPorts: Object.entries(spec.network.ports).map(([Label, To]) => ({ Label, To })) }],
        Tasks: [
          {
            Name: spec.name,
            Driver: 'virt',
            Config: {
              disk: [
                {
                  primary: true,
                  ...(primarySize !== undefined && { size: diskSize(size('disks.primarySize', primarySize)) }),
                  ...(spec.disks?.thinCopy && { chained: true }),
                  source: [{ image: fetched ? artifactDest(spec.image) : spec.image }],
                },
              ],
              network_interface: [{ bridge: [{ name: spec.network.bridge, ports: Object.keys(spec.network.ports) }] }],
              // Inline, not a file: the plugin opens a user_data path itself,
              // outside the task dir, and for this driver Nomad interpolates
              // ${NOMAD_TASK_DIR} to the guest's /local, so a file rendered
              // into the task dir cannot be named. A trailing newline can never
              // be part of a file name, so the driver always takes it as text.
              ...(ci?.userData !== undefined && { user_data: hclLiteral(ci.userData.endsWith('\n') ? ci.userData : `${ci.userData}\n`) }),
              ...(ci?.sshAuthorizedKey !== undefined && { default_user_authorized_ssh_key: ci.sshAuthorizedKey }),
              ...(ci?.password !== undefined && { default_user_password: ci.password }),
            },
            Artifacts: fetched ? [{ GetterSource: spec.image, RelativeDest: artifactDest(spec.image), GetterMode: 'file' }] : [],
            // Task-level, so the check can use the VM's own address (the
            // driver's network): for a non-loopback host address the driver
            // forwards only traffic arriving from outside, not the local
            // Consul agent's. The registered address stays the host's.
            Services: spec.service
              ? [
                  {
                    Name: spec.service.name,
                    PortLabel: spec.service.port,
                    Provider: 'consul',
                    Checks: [{ Name: `${spec.service.name} tcp`, Type: 'tcp', Interval: interval, Timeout: Math.min(interval, 2 * SECOND), AddressMode: 'driver' }],
                  },
                ]
              : [],
            // `cores`, not `cpu` MHz (Nomad refuses both; the driver ignores MHz).
            Resources: { Cores: spec.vcpus, MemoryMB: memoryMiB(spec) },
          },
        ],
      },
    ],
  } satisfies NomadJob
}
