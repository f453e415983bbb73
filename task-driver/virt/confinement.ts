// What confines a VM's QEMU beyond the guest: the unprivileged user libvirt
// runs it as (qemu.conf's `user`/`group`, read back from libvirt's
// capabilities, so qemu.conf stays the one place that names it), the files
// that user is given (the task's own, nothing else: libvirt's
// dynamic_ownership is off), and the cgroup limits libvirt sets on its domain.
import { execFile } from 'node:child_process'
import { chmod, chown } from 'node:fs/promises'
import { DEFAULT_TB_CACHE_MIB, type DomainType } from './domain-xml.ts'
import { VirtError } from './errors.ts'
import { virsh } from './virsh.ts'

export interface QemuIdentity {
  readonly uid: number
  readonly gid: number
}

/** The DAC base label of a domain type in `virsh capabilities` (`+uid:+gid`), or undefined (pure). */
export function parseDacBaseLabel(capabilities: string, type: DomainType): QemuIdentity | undefined {
  for (const m of capabilities.matchAll(/<secmodel>([\s\S]*?)<\/secmodel>/g)) {
    if (!/<model>dac<\/model>/.test(m[1]!)) continue
    const label = new RegExp(`<baselabel type='${type}'>\\+(\\d+):\\+(\\d+)</baselabel>`).exec(m[1]!)
    if (label) return { uid: Number(label[1]), gid: Number(label[2]) }
  }
  return undefined
}

const identities = new Map<string, Promise<QemuIdentity>>()

/**
 * The uid and gid libvirt at `uri` runs QEMU as; refused (LEAN_ERR_VIRT_CONFINE)
 * if that is root, whose QEMU a guest escaping it would be root on the node.
 */
export function qemuIdentity(uri: string): Promise<QemuIdentity> {
  let found = identities.get(uri)
  if (!found) {
    found = (async () => {
      const id = parseDacBaseLabel(await virsh(uri, ['capabilities']), 'qemu')
      if (!id) throw new VirtError('LEAN_ERR_VIRT_CONFINE', `libvirt at ${uri} reports no DAC label for QEMU`)
      if (id.uid === 0 || id.gid === 0)
        throw new VirtError(
          'LEAN_ERR_VIRT_CONFINE',
          `libvirt at ${uri} runs QEMU as root (+${id.uid}:+${id.gid}): its qemu.conf user and group must name an unprivileged user`,
        )
      return id
    })()
    identities.set(uri, found)
    found.catch(() => identities.delete(uri)) // ask again next time
  }
  return found
}

/**
 * QEMU's own memory on top of the guest's, in the domain's cgroup: code, heap,
 * device emulation and block caches, measured at ~47 MiB for the tiny image
 * (RSS 207 MiB = 128 guest + 32 TCG cache + QEMU), doubled and rounded up for
 * disk images and I/O bursts.
 */
export const QEMU_OVERHEAD_MIB = 128

/** The cgroup memory hard limit of a VM: guest RAM + TCG translation cache + QEMU's overhead (pure). */
export function memoryHardLimitMiB(memoryMiB: number, type: DomainType, tbCacheMiB?: number): number {
  return memoryMiB + (type === 'qemu' ? (tbCacheMiB ?? DEFAULT_TB_CACHE_MIB) : 0) + QEMU_OVERHEAD_MIB
}

/** The task's CPU weight (Nomad's cpu_shares, its `cpu` in MHz), if Nomad gave one libvirt takes (pure). */
export function cpuSharesOf(task: {
  resources?: { linux_resources?: { cpu_shares?: unknown } }
}): number | undefined {
  const shares = Number(task.resources?.linux_resources?.cpu_shares ?? 0)
  return Number.isSafeInteger(shares) && shares >= 2 ? Math.min(shares, 262_144) : undefined
}

export interface TaskFiles {
  /** Dirs QEMU passes through (no listing): root:gid 0710. */
  readonly dirs: readonly string[]
  /** Files QEMU reads only (the seed): root:gid 0640. */
  readonly readOnly: readonly string[]
  /** Files QEMU writes (the overlay): uid:gid 0600. */
  readonly writable: readonly string[]
}

/** Gives QEMU's user exactly the task's own files, as the TaskFiles say. */
export async function grantTaskFiles(id: QemuIdentity, f: TaskFiles): Promise<void> {
  for (const dir of f.dirs) {
    await chown(dir, 0, id.gid)
    await chmod(dir, 0o710)
  }
  for (const file of f.readOnly) {
    await chown(file, 0, id.gid)
    await chmod(file, 0o640)
  }
  for (const file of f.writable) {
    await chown(file, id.uid, id.gid)
    await chmod(file, 0o600)
  }
}

/** Whether QEMU's user can read all `files`, as the kernel decides it (one `test -r … -a -r …` run as that user). */
export function readableBy(id: QemuIdentity, files: readonly string[]): Promise<boolean> {
  const args = files.flatMap((f, i) => (i === 0 ? ['-r', f] : ['-a', '-r', f]))
  return new Promise((resolve) => {
    execFile('/usr/bin/test', args, { uid: id.uid, gid: id.gid, timeout: 10_000 }, (err) => resolve(!err))
  })
}

/**
 * Refuses (LEAN_ERR_VIRT_CONFINE, naming `field`) a file QEMU's user could
 * not read: a dir on the way that is not theirs to pass (0700 above it), where
 * QEMU would fail later with a bare "Permission denied".
 */
export async function requireReadable(
  id: QemuIdentity,
  files: readonly string[],
  field: string,
): Promise<void> {
  if (files.length === 0 || (await readableBy(id, files))) return
  for (const file of files)
    if (!(await readableBy(id, [file])))
      throw new VirtError(
        'LEAN_ERR_VIRT_CONFINE',
        `${field}: QEMU's user (uid ${id.uid}, gid ${id.gid}) cannot read ${file}: every dir above it must let others pass (o+x)`,
      )
}
