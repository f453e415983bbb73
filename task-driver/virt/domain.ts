// The lifecycle calls of one domain, over virsh: create (transient: libvirt
// forgets it once it stops, so nothing is left defined), state, destroy, and
// the QEMU process behind it (for RSS). All domains are transient; the driver
// keeps what it needs to recover them in its task handle and the domain XML.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { VirtError } from './errors.ts'
import { virsh } from './virsh.ts'

/**
 * `virsh create` can take long: the first start after a libvirtd start probes
 * QEMU (~8-12 s on two TCG cores), and a `/dev/kvm` libvirt cannot open makes
 * it re-probe on every create (~49 s, see task-driver/virt/README.md).
 */
export const CREATE_TIMEOUT_MS = 120_000

export interface CreateOptions {
  /** The memory hard limit of the domain's cgroup, set before the guest runs an instruction. */
  readonly memoryHardLimitMiB?: number
}

/**
 * Starts a transient domain from its XML (written to xmlFile first, for the
 * record). With a memory limit: created paused, limited, then resumed. Not
 * `<memtune>` in the XML: with it libvirt also raises QEMU's RLIMIT_MEMLOCK to
 * the limit before exec, which needs CAP_SYS_RESOURCE (missing here: `cannot
 * limit locked memory … Operation not permitted`); a live memtune sets the
 * cgroup only, on cgroup v1 and v2.
 */
export async function createDomain(
  uri: string,
  xml: string,
  xmlFile: string,
  o: CreateOptions = {},
): Promise<void> {
  await writeFile(xmlFile, xml)
  const limit = o.memoryHardLimitMiB
  await virsh(uri, ['create', ...(limit === undefined ? [] : ['--paused']), xmlFile], {
    timeoutMs: CREATE_TIMEOUT_MS,
  })
  if (limit === undefined) return
  const name = /<name>([^<]*)<\/name>/.exec(xml)?.[1] ?? ''
  try {
    await virsh(uri, ['memtune', name, '--hard-limit', String(limit * 1024), '--live'])
  } catch (err) {
    await destroyDomain(uri, name).catch(() => false)
    throw new VirtError(
      'LEAN_ERR_VIRT_CONFINE',
      `resources.memory: libvirt could not set the memory hard limit (${limit} MiB) of ${name}'s cgroup: ${(err as VirtError).stderr || (err as Error).message}`,
      { cause: err },
    )
  }
  try {
    await virsh(uri, ['resume', name])
  } catch (err) {
    await destroyDomain(uri, name).catch(() => false)
    throw err
  }
}

/** The domain's state as `virsh domstate` names it ('running', 'shut off', …); undefined when there is no such domain. */
export async function domainState(uri: string, name: string): Promise<string | undefined> {
  try {
    return (await virsh(uri, ['domstate', name])).trim()
  } catch (err) {
    if (err instanceof VirtError && err.code === 'LEAN_ERR_VIRT_NO_DOMAIN') return undefined
    throw err
  }
}

/** Powers the domain off at once; true if it existed. A domain already gone is not an error. */
export async function destroyDomain(uri: string, name: string): Promise<boolean> {
  try {
    await virsh(uri, ['destroy', name], { timeoutMs: 60_000 })
    return true
  } catch (err) {
    if (err instanceof VirtError && err.code === 'LEAN_ERR_VIRT_NO_DOMAIN') return false
    // Domain stopped between our lookup and the destroy.
    if (err instanceof VirtError && /domain is not running/i.test(err.stderr)) return false
    throw err
  }
}

/** Presses the ACPI power button (`virsh shutdown`): the guest powers itself off if it listens. */
export async function shutdownDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['shutdown', name])
}

/** The XML of a running domain, as libvirt completed it (addresses, aliases). */
export async function domainXml(uri: string, name: string): Promise<string> {
  return virsh(uri, ['dumpxml', name])
}

/** Whether a QEMU command line (NUL-separated /proc cmdline) is the domain's: libvirt passes `-name guest=<name>,…` (pure). */
export function isDomainCmdline(cmdline: string, name: string): boolean {
  const args = cmdline.split('\0')
  const i = args.indexOf('-name')
  if (i < 0) return false
  const value = args[i + 1] ?? ''
  return value === `guest=${name}` || value.startsWith(`guest=${name},`)
}

/** The pid of the QEMU process running the domain, found through /proc. */
export async function qemuPid(name: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.startsWith('/') && cmdline.includes('qemu-system') && isDomainCmdline(cmdline, name))
      return Number(entry)
  }
  return undefined
}

/** Resident set size of a process in bytes (VmRSS), undefined when it is gone. */
export async function processRss(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
  return kb === undefined ? undefined : Number(kb) * 1024
}
