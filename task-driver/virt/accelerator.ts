// Which accelerator VMs get on this node: boot the tiny image with
// `type='kvm'` under a deadline and watch its console for the ready line. A
// `/dev/kvm` that exists proves nothing (on these machines it does, and a KVM
// guest prints nothing after "Booting from ROM"), so only a boot decides. If
// the KVM boot fails or times out, VMs run under TCG (`type='qemu'`).
import { access, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { waitForConsoleLine } from './console.ts'
import { createDomain, destroyDomain, domainState } from './domain.ts'
import { renderDomainXml, type DomainType } from './domain-xml.ts'
import { VirtError } from './errors.ts'

export interface ProbeOptions {
  readonly uri: string
  /** The tiny image's kernel, initrd and command line. */
  readonly kernel: string
  readonly initrd: string
  readonly cmdline: string
  readonly readyLine: string
  readonly memoryMiB: number
  /** Scratch dir for the probe's XML and console; removed afterwards. */
  readonly workDir: string
  /** How long a KVM boot may take to print the ready line (KVM boots the tiny image in about a second). */
  readonly deadlineMs?: number
  readonly progress?: (message: string) => void
  /** The device to look for before trying (tests point it elsewhere). */
  readonly kvmDevice?: string
}

export interface ProbeResult {
  readonly type: DomainType
  /** Why: 'kvm booted to READY in 900 ms', 'no /dev/kvm', 'kvm: no READY within 20000 ms', … */
  readonly reason: string
  /** Time the probe took, from start to decision (cleaning up the probe domain comes after). */
  readonly ms: number
}

export const DEFAULT_PROBE_DEADLINE_MS = 20_000

export async function probeAccelerator(o: ProbeOptions): Promise<ProbeResult> {
  const started = Date.now()
  const done = (type: DomainType, reason: string): ProbeResult => ({ type, reason, ms: Date.now() - started })
  const device = o.kvmDevice ?? '/dev/kvm'
  try {
    await access(device)
  } catch {
    return done('qemu', `no ${device}: TCG`)
  }
  const deadline = o.deadlineMs ?? DEFAULT_PROBE_DEADLINE_MS
  const name = `lean-probe-kvm-${process.pid}-${Date.now().toString(36)}`
  const dir = path.join(o.workDir, name)
  await mkdir(dir, { recursive: true })
  const consoleLog = path.join(dir, 'console.log')
  const xml = renderDomainXml({
    name,
    type: 'kvm',
    memoryMiB: o.memoryMiB,
    vcpus: 1,
    boot: { kind: 'kernel', kernel: o.kernel, initrd: o.initrd, cmdline: o.cmdline },
    consoleLog,
  })
  try {
    try {
      await createDomain(o.uri, xml, path.join(dir, 'domain.xml'))
    } catch (err) {
      const said = err instanceof VirtError && err.stderr ? err.stderr : (err as Error).message
      return done('qemu', `the kvm domain did not start (${said.replace(/\s+/g, ' ').trim()}): TCG`)
    }
    o.progress?.(`probing KVM: booting ${name} with a ${deadline / 1000} s deadline`)
    try {
      const ms = await waitForConsoleLine(consoleLog, o.readyLine, {
        timeoutMs: deadline,
        abort: async () =>
          (await domainState(o.uri, name)) === 'running' ? undefined : 'the kvm domain stopped',
        onProgress: (waited) =>
          o.progress?.(`probing KVM: no ${o.readyLine} yet after ${Math.round(waited / 1000)} s`),
        progressEveryMs: 5000,
      })
      return done('kvm', `kvm booted to ${o.readyLine} in ${ms} ms`)
    } catch (err) {
      return done('qemu', `${(err as Error).message.replace(/ \(.*\)/, '')}: TCG`)
    }
  } finally {
    await destroyDomain(o.uri, name).catch(() => false)
    await rm(dir, { recursive: true, force: true })
  }
}
