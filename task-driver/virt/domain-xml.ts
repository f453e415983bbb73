// Domain XML for one VM, rendered by a pure function: the same spec always
// gives the same text, every value is escaped, and a bad spec is refused with
// the field named. Two boot kinds, as the image manifests have them: a kernel
// and initrd booted directly, or a qcow2 disk (through a copy-on-write overlay,
// never the image file itself).
//
// Networking is QEMU's user-mode stack with host port forwards, given on
// QEMU's command line (`<qemu:commandline>`) rather than added through the
// monitor after start (`hostfwd_add`):
//   - atomic: if a host port is taken, QEMU refuses to start and `virsh create`
//     fails naming the rule; there is never a running VM without its ports;
//   - recoverable: the forwards are part of the domain's XML (`virsh dumpxml`),
//     so a restarted driver reads them back instead of keeping its own record;
//   - one call less per start, and no monitor access (libvirt taints both ways:
//     `custom-argv` here, `custom-monitor` for hostfwd_add).
// The NIC then needs an explicit PCI slot outside the range libvirt assigns.
import { VirtError } from './errors.ts'

export type DomainType = 'qemu' | 'kvm'

export interface PortForward {
  /** Host address the forward listens on; loopback unless told otherwise. */
  readonly hostAddress?: string
  readonly hostPort: number
  readonly guestPort: number
  readonly protocol?: 'tcp' | 'udp'
  /**
   * Set when hostAddress is not loopback (port-relays.ts): QEMU's forward then
   * listens on 127.0.0.1:innerPort, and a relay of the plugin on
   * hostAddress:hostPort pipes to it, so the guest sees a loopback source.
   */
  readonly innerPort?: number
}

/**
 * A guest-initiated TCP forward (QEMU's `guestfwd`): connections the guest
 * opens to guestAddress:guestPort go to a proxy on the host's loopback. The
 * only destinations a restricted guest can reach.
 */
export interface GuestForward {
  readonly guestAddress: string
  readonly guestPort: number
  readonly proxyPort: number
}

export interface KernelBootSpec {
  readonly kind: 'kernel'
  readonly kernel: string
  readonly initrd: string
  readonly cmdline: string
}

export interface DiskBootSpec {
  readonly kind: 'disk'
  /** The copy-on-write overlay the guest writes to (qcow2, backed by the image). */
  readonly overlay: string
}

export interface DomainSpec {
  readonly name: string
  readonly type: DomainType
  readonly memoryMiB: number
  readonly vcpus: number
  /** CPU weight against other domains (`<cputune><shares>`; cpu.shares on cgroup v1, cpu.weight on v2). */
  readonly cpuShares?: number
  readonly boot: KernelBootSpec | DiskBootSpec
  /** The NoCloud seed ISO (labelled `cidata`), attached read-only as a cdrom. */
  readonly seedIso?: string
  /**
   * Bus of the seed cdrom: IDE on the `pc` machine (default) or virtio-scsi.
   * Not SATA: Debian's cloud kernel has no AHCI driver and would not see it.
   */
  readonly cdromBus?: 'ide' | 'scsi'
  /** File the serial console (ttyS0) is written to; the driver tails it into the task's logs. */
  readonly consoleLog: string
  readonly ports?: readonly PortForward[]
  readonly guestForwards?: readonly GuestForward[]
  /** TCG translation cache in MiB (type 'qemu' only); QEMU's own default is 1 GiB per VM. */
  readonly tbCacheMiB?: number
  /** Extra metadata stored in the domain (`<description>`), e.g. the Nomad task id. */
  readonly description?: string
}

export const DEFAULT_TB_CACHE_MIB = 32
/** The PCI slot of the user-mode NIC; libvirt assigns from slot 2 upwards on the `pc` machine. */
export const NIC_PCI_SLOT = 0x1f
/** The id of the netdev we add on QEMU's command line (libvirt's own are `hostnetN`). */
export const NETDEV_ID = 'leannet0'
export const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0'

/** Escapes text for an XML attribute value or element content. */
export function xmlEscape(value: string): string {
  // Control characters other than tab, LF and CR are not allowed in XML 1.0 at all.
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 && c !== '\t' && c !== '\n' && c !== '\r'))
    throw new VirtError('LEAN_ERR_VIRT_SPEC', `value contains a control character: ${JSON.stringify(value)}`)
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
}

/** Where QEMU's forward listens: hostAddress:hostPort, or 127.0.0.1:innerPort behind a relay. */
export function qemuListen(p: PortForward): { address: string; port: number } {
  return p.innerPort === undefined
    ? { address: p.hostAddress ?? '127.0.0.1', port: p.hostPort }
    : { address: '127.0.0.1', port: p.innerPort }
}

/** QEMU's `hostfwd=` value for a forward: `tcp:127.0.0.1:H-:G`. */
export function hostfwd(p: PortForward): string {
  const { address, port } = qemuListen(p)
  return `${p.protocol ?? 'tcp'}:${address}:${port}-:${p.guestPort}`
}

/**
 * QEMU's `guestfwd=` value: the guest's address and port to a TCP chardev
 * that connects to the proxy. One chardev carries one stream, opened when
 * QEMU starts; the proxy ends it after each guest connection and
 * `reconnect=1` has QEMU dial again (a second later) for the next. The comma
 * is doubled: the chardev's options sit inside the -netdev option list.
 */
export function guestfwd(g: GuestForward): string {
  return `tcp:${g.guestAddress}:${g.guestPort}-tcp:127.0.0.1:${g.proxyPort},,reconnect=1`
}

/**
 * The `-netdev`/`-device` arguments for user-mode networking with the forwards.
 * `restrict=on` cuts the guest off from the host and beyond: unrestricted,
 * QEMU's user-mode stack takes the guest's 10.0.2.2 to the host's 127.0.0.1,
 * where every agent and task of the node listens. The host's forwards into the
 * guest still work, so a guest serves its ports and reaches nothing itself.
 */
export function userNetArgs(
  ports: readonly PortForward[],
  guestForwards: readonly GuestForward[] = [],
): string[] {
  // QEMU splits -netdev options on commas; a doubled comma is a literal one. No
  // value here may hold one (checked in checkSpec), so nothing needs escaping;
  // guestfwd's own doubled comma passes its chardev an option.
  const netdev = [
    'user',
    `id=${NETDEV_ID}`,
    'restrict=on',
    ...ports.map((p) => `hostfwd=${hostfwd(p)}`),
    // restrict=on drops every guest connection that matches no guestfwd.
    ...guestForwards.map((g) => `guestfwd=${guestfwd(g)}`),
  ].join(',')
  const slot = `0x${NIC_PCI_SLOT.toString(16)}`
  return ['-netdev', netdev, '-device', `virtio-net-pci,netdev=${NETDEV_ID},bus=pci.0,addr=${slot}`]
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/

function bad(field: string, why: string): never {
  throw new VirtError('LEAN_ERR_VIRT_SPEC', `invalid domain spec: ${field} ${why}`)
}

function checkPath(field: string, value: string): void {
  if (!value.startsWith('/')) bad(field, `must be an absolute path, got '${value}'`)
  if (value.includes(',')) bad(field, `must not contain a comma (QEMU option syntax): '${value}'`)
}

function isPort(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && n <= 65535
}

/** Refuses a spec libvirt or QEMU would refuse later, or that could not be expressed safely. */
export function checkSpec(s: DomainSpec): void {
  if (!NAME.test(s.name))
    bad('name', `must be 1-63 letters, digits, '.', '_' or '-' (first a letter or digit), got '${s.name}'`)
  if (s.type !== 'qemu' && s.type !== 'kvm') bad('type', `must be 'qemu' or 'kvm', got '${String(s.type)}'`)
  if (!Number.isSafeInteger(s.memoryMiB) || s.memoryMiB < 16)
    bad('memoryMiB', `must be an integer >= 16, got ${s.memoryMiB}`)
  if (!Number.isSafeInteger(s.vcpus) || s.vcpus < 1 || s.vcpus > 64)
    bad('vcpus', `must be an integer 1-64, got ${s.vcpus}`)
  if (
    s.cpuShares !== undefined &&
    (!Number.isSafeInteger(s.cpuShares) || s.cpuShares < 2 || s.cpuShares > 262_144)
  )
    bad('cpuShares', `must be an integer 2-262144, got ${s.cpuShares}`)
  if (s.boot.kind === 'kernel') {
    checkPath('boot.kernel', s.boot.kernel)
    checkPath('boot.initrd', s.boot.initrd)
  } else if (s.boot.kind === 'disk') {
    checkPath('boot.overlay', s.boot.overlay)
  } else {
    bad('boot.kind', "must be 'kernel' or 'disk'")
  }
  if (s.seedIso !== undefined) checkPath('seedIso', s.seedIso)
  if (s.cdromBus !== undefined && s.cdromBus !== 'ide' && s.cdromBus !== 'scsi')
    bad(
      'cdromBus',
      `must be 'ide' or 'scsi' (a SATA cdrom is invisible to Debian's cloud kernel), got '${String(s.cdromBus)}'`,
    )
  checkPath('consoleLog', s.consoleLog)
  if (s.tbCacheMiB !== undefined && (!Number.isSafeInteger(s.tbCacheMiB) || s.tbCacheMiB < 1))
    bad('tbCacheMiB', `must be a positive integer, got ${s.tbCacheMiB}`)
  const seen = new Set<string>()
  for (const [i, p] of (s.ports ?? []).entries()) {
    if (!isPort(p.hostPort)) bad(`ports[${i}].hostPort`, `must be a port number, got ${p.hostPort}`)
    if (!isPort(p.guestPort)) bad(`ports[${i}].guestPort`, `must be a port number, got ${p.guestPort}`)
    if (p.hostAddress !== undefined && !IPV4.test(p.hostAddress))
      bad(`ports[${i}].hostAddress`, `must be an IPv4 address, got '${p.hostAddress}'`)
    if (p.protocol !== undefined && p.protocol !== 'tcp' && p.protocol !== 'udp')
      bad(`ports[${i}].protocol`, `must be 'tcp' or 'udp', got '${String(p.protocol)}'`)
    if (p.innerPort !== undefined) {
      if (!isPort(p.innerPort)) bad(`ports[${i}].innerPort`, `must be a port number, got ${p.innerPort}`)
      if ((p.protocol ?? 'tcp') !== 'tcp') bad(`ports[${i}].innerPort`, 'is for TCP forwards only (a relay carries TCP)')
    }
    const listen = qemuListen(p)
    const key = `${p.protocol ?? 'tcp'}:${listen.address}:${listen.port}`
    if (seen.has(key)) bad(`ports[${i}]`, `forwards host port ${key} twice`)
    seen.add(key)
  }
  const targets = new Set<string>()
  for (const [i, g] of (s.guestForwards ?? []).entries()) {
    // QEMU's user network is 10.0.2.0/24; .2 is the host, .3 its DNS, .15 on DHCP.
    const host = /^10\.0\.2\.(\d{1,3})$/.exec(g.guestAddress)?.[1]
    if (host === undefined || Number(host) < 32 || Number(host) > 254)
      bad(`guestForwards[${i}].guestAddress`, `must be 10.0.2.32-254, got '${g.guestAddress}'`)
    if (!isPort(g.guestPort))
      bad(`guestForwards[${i}].guestPort`, `must be a port number, got ${g.guestPort}`)
    if (!isPort(g.proxyPort))
      bad(`guestForwards[${i}].proxyPort`, `must be a port number, got ${g.proxyPort}`)
    const key = `${g.guestAddress}:${g.guestPort}`
    if (targets.has(key)) bad(`guestForwards[${i}]`, `forwards ${key} twice`)
    targets.add(key)
  }
}

/** The domain XML for a spec (pure). Throws VirtError LEAN_ERR_VIRT_SPEC for a bad spec. */
export function renderDomainXml(s: DomainSpec): string {
  checkSpec(s)
  const e = xmlEscape
  const lines: string[] = []
  const add = (indent: number, text: string) => lines.push(`${'  '.repeat(indent)}${text}`)

  add(0, `<domain type='${s.type}' xmlns:qemu='${QEMU_NS}'>`)
  add(1, `<name>${e(s.name)}</name>`)
  if (s.description !== undefined) add(1, `<description>${e(s.description)}</description>`)
  add(1, `<memory unit='MiB'>${s.memoryMiB}</memory>`)
  add(1, `<vcpu>${s.vcpus}</vcpu>`)
  if (s.cpuShares !== undefined) add(1, `<cputune><shares>${s.cpuShares}</shares></cputune>`)
  add(1, '<os>')
  // `pc` (i440fx): its IDE controller carries the seed cdrom.
  add(2, "<type arch='x86_64' machine='pc'>hvm</type>")
  if (s.boot.kind === 'kernel') {
    add(2, `<kernel>${e(s.boot.kernel)}</kernel>`)
    add(2, `<initrd>${e(s.boot.initrd)}</initrd>`)
    add(2, `<cmdline>${e(s.boot.cmdline)}</cmdline>`)
  } else {
    add(2, "<boot dev='hd'/>")
  }
  add(1, '</os>')
  add(1, '<features>')
  add(2, '<acpi/>') // the power button: `virsh shutdown` reaches the guest
  if (s.type === 'qemu') {
    add(2, '<tcg>')
    add(3, `<tb-cache unit='MiB'>${s.tbCacheMiB ?? DEFAULT_TB_CACHE_MIB}</tb-cache>`)
    add(2, '</tcg>')
  }
  add(1, '</features>')
  if (s.type === 'kvm') add(1, "<cpu mode='host-passthrough'/>")
  // A task that stops is over: the driver, not libvirt, decides about restarts.
  add(1, '<on_poweroff>destroy</on_poweroff>')
  add(1, '<on_reboot>restart</on_reboot>')
  add(1, '<on_crash>destroy</on_crash>')
  add(1, '<devices>')
  if (s.boot.kind === 'disk') {
    add(2, "<disk type='file' device='disk'>")
    add(3, "<driver name='qemu' type='qcow2' discard='unmap'/>")
    add(3, `<source file='${e(s.boot.overlay)}'/>`)
    add(3, "<target dev='vda' bus='virtio'/>")
    add(2, '</disk>')
  }
  if (s.seedIso !== undefined) {
    const scsi = s.cdromBus === 'scsi'
    if (scsi) add(2, "<controller type='scsi' index='0' model='virtio-scsi'/>")
    add(2, "<disk type='file' device='cdrom'>")
    add(3, "<driver name='qemu' type='raw'/>")
    add(3, `<source file='${e(s.seedIso)}'/>`)
    add(3, scsi ? "<target dev='sda' bus='scsi'/>" : "<target dev='hdc' bus='ide'/>")
    add(3, '<readonly/>')
    add(2, '</disk>')
  }
  add(2, "<controller type='usb' model='none'/>")
  add(2, "<serial type='file'>")
  add(3, `<source path='${e(s.consoleLog)}' append='on'/>`)
  add(3, "<target port='0'/>")
  add(2, '</serial>')
  add(2, "<console type='file'>")
  add(3, `<source path='${e(s.consoleLog)}' append='on'/>`)
  add(3, "<target type='serial' port='0'/>")
  add(2, '</console>')
  add(2, "<memballoon model='none'/>")
  add(1, '</devices>')
  add(1, '<qemu:commandline>')
  for (const arg of userNetArgs(s.ports ?? [], s.guestForwards ?? [])) add(2, `<qemu:arg value='${e(arg)}'/>`)
  add(1, '</qemu:commandline>')
  add(0, '</domain>')
  return `${lines.join('\n')}\n`
}

/** The host forwards of a domain, read back from its XML (`virsh dumpxml`), e.g. after a driver restart. */
export function forwardsFromXml(xml: string): PortForward[] {
  const out: PortForward[] = []
  for (const m of xml.matchAll(/<qemu:arg value=['"]([^'"]*)['"]\s*\/>/g)) {
    const value = m[1]!
    if (!value.startsWith('user,')) continue
    for (const part of value.split(',')) {
      const f = /^hostfwd=(tcp|udp):([\d.]*):(\d+)-[\d.]*:(\d+)$/.exec(part)
      if (f)
        out.push({
          protocol: f[1] as 'tcp' | 'udp',
          hostAddress: f[2] || '0.0.0.0',
          hostPort: Number(f[3]),
          guestPort: Number(f[4]),
        })
    }
  }
  return out
}
