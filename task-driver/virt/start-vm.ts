// StartTask of the `virt` driver: from Nomad's TaskConfig to a running,
// ready VM. Image by digest (verified, cached per node), a NoCloud seed and,
// for disk images, a copy-on-write overlay in the task's own dir, domain XML
// with the task's ports forwarded from the node address, `virsh create`, then
// the image's ready line on the serial console. Anything that fails on the way
// is undone: no domain and no files are left.
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { processStartTicks } from '../../ground/proc-stats.ts'
import {
  cpuSharesOf,
  grantTaskFiles,
  memoryHardLimitMiB,
  qemuIdentity,
  requireReadable,
} from './confinement.ts'
import { consoleTail, waitForConsoleLine } from './console.ts'
import { createDomain, destroyDomain, domainState, qemuPid } from './domain.ts'
import { renderDomainXml, type DomainSpec, type PortForward } from './domain-xml.ts'
import { EgressProxies, egressHosts } from './egress.ts'
import { VirtError } from './errors.ts'
import { ensureImage } from './image-cache.ts'
import { PortRelays, reserveInnerPorts } from './port-relays.ts'
import { createOverlay } from './overlay.ts'
import type { VirtPluginConfig } from './plugin-config.ts'
import { writeSeed } from './seed.ts'
import { parseVirtTaskConfig } from './task-config.ts'
import { buildUserData } from './user-data.ts'
import type { VmState } from './vm-handle.ts'
import { findPort, type NomadTask } from '../kit/nomad-task.ts'


export interface StartResult {
  readonly state: VmState
  /** Milliseconds from `virsh create` to the ready line (or to running, without one). */
  readonly bootMs: number
  readonly imageFetched: boolean
  readonly readyLine?: string
  /** The memory hard limit of the VM's cgroup (guest + overhead). */
  readonly memoryHardLimitMiB: number
  /** The proxies of the granted services; they live as long as the task. */
  readonly egress: EgressProxies
  /** The relays of the ports on a non-loopback address (port-relays.ts); they live as long as the task. */
  readonly relays: PortRelays
}

/**
 * The libvirt domain of a task: one per alloc and task name, so a restarted
 * task reuses (and first clears) it. Also the seed's instance-id, so letters,
 * digits and dashes only; a task name that had to be changed to fit gets a
 * hash of the original, so two tasks never share a domain.
 */
export function domainName(allocId: string, taskName: string): string {
  const plain = taskName.toLowerCase().replace(/[^a-z0-9-]/g, '-')
  const base = `lc-${allocId.slice(0, 8)}-${plain}`
  if (plain === taskName && base.length <= 63 && !base.endsWith('-')) return base
  const hash = createHash('sha256').update(taskName).digest('hex').slice(0, 8)
  return `${base.slice(0, 54).replace(/-+$/, '')}-${hash}`
}

/** vCPUs: the config's, else one per reserved core (Nomad's cpuset), else one. */
function vcpusOf(task: NomadTask, configured: number | undefined): number {
  if (configured !== undefined) return configured
  const cpuset = String(task.resources?.linux_resources?.cpuset_cpus ?? '')
  let n = 0
  for (const part of cpuset.split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number)
    n += b === undefined ? 1 : b! - a! + 1
  }
  return n > 0 ? n : 1
}

/** The host side of each port label: Nomad's port mapping (`to` is the guest port). */
export function forwardsFor(task: Pick<NomadTask, 'resources'>, labels: readonly string[]): PortForward[] {
  return labels.map((label) => {
    const port = findPort(task, label)
    if (!port)
      throw new VirtError(
        'LEAN_ERR_VIRT_CONFIG',
        `invalid task config: ports: no port labelled "${label}" in the group's network block`,
      )
    return { hostAddress: port.hostAddress, hostPort: port.hostPort, guestPort: port.taskPort }
  })
}

function hostnameOf(task: NomadTask, configured: string | undefined): string {
  if (configured) return configured
  const env = task.env ?? {}
  const base = `${env.NOMAD_JOB_NAME ?? task.name}-${env.NOMAD_ALLOC_INDEX ?? '0'}`
  return (
    base
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^-+/, '')
      .slice(0, 63)
      .replace(/-+$/, '') || 'vm'
  )
}

export async function startVm(
  task: NomadTask,
  rawConfig: Record<string, unknown>,
  plugin: VirtPluginConfig,
  accelerator: 'kvm' | 'tcg',
  log: Logger,
): Promise<StartResult> {
  const config = parseVirtTaskConfig(rawConfig)
  const reservedMiB = Number(task.resources?.allocated_resources?.memory?.memory_mb ?? 0)
  // The config's guest memory must fit what Nomad reserved (which jobs/vm.ts sizes for QEMU's overhead too).
  if (config.memoryMiB !== undefined && config.memoryMiB > reservedMiB) {
    throw new VirtError(
      'LEAN_ERR_VIRT_CONFIG',
      `invalid task config: memory: ${config.memoryMiB} MiB of guest memory is more than the task's resources.memory (${reservedMiB} MiB)`,
    )
  }
  const memoryMiB = config.memoryMiB ?? reservedMiB
  const nomadPorts = forwardsFor(task, config.ports)
  const domain = domainName(String(task.alloc_id), String(task.name))
  const dir = path.join(String(task.alloc_dir), String(task.name), 'virt')

  const image = await ensureImage(
    { sha256: config.imageSha256, location: config.image },
    { cacheDir: plugin.imageCacheDir, imagePaths: plugin.imagePaths, ...(plugin.s3 && { s3: plugin.s3 }) },
  )
  const m = image.manifest
  if (memoryMiB < m.guest.minMemoryMiB) {
    throw new VirtError(
      'LEAN_ERR_VIRT_CONFIG',
      `invalid task config: ${config.memoryMiB === undefined ? 'resources.memory' : 'memory'}: ${memoryMiB} MiB is below the ${m.guest.minMemoryMiB} MiB image ${m.name} needs`,
    )
  }
  if (config.diskSizeBytes !== undefined && m.boot.kind !== 'disk') {
    throw new VirtError(
      'LEAN_ERR_VIRT_CONFIG',
      `invalid task config: disk_size: image ${m.name} boots a kernel and has no disk`,
    )
  }

  // QEMU runs as an unprivileged user: it must reach the cached image (read only) through every dir above it.
  const qemu = await qemuIdentity(plugin.libvirtUri)
  await requireReadable(qemu, [...image.files.values()], 'plugin config image_cache_dir')
  const type = accelerator === 'kvm' ? 'kvm' : 'qemu'
  const limitMiB = memoryHardLimitMiB(memoryMiB, type, plugin.tbCacheMiB)

  // A domain of this name is a previous attempt of this very task: clear it.
  if (await destroyDomain(plugin.libvirtUri, domain))
    log.warn({ domain }, 'destroyed a leftover domain of an earlier attempt')
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  let created = false
  let egress: EgressProxies | undefined
  let relays: PortRelays | undefined
  try {
    // Listening before QEMU starts: its guestfwd streams dial these ports.
    egress = await EgressProxies.start(
      config.egress.map((service) => ({ service })),
      plugin.consulDns,
      log,
    )
    const hostname = hostnameOf(task, config.hostname)
    const userData = buildUserData(
      config,
      hostname,
      `lean-cloud-${randomBytes(8).toString('hex')}`,
      egressHosts(egress.grants),
    )
    const seedIso = await writeSeed(path.join(dir, 'seed'), { instanceId: domain, hostname, userData })
    const consoleLog = path.join(dir, 'console.log')
    let boot: DomainSpec['boot']
    let overlay: string | undefined
    if (m.boot.kind === 'kernel') {
      boot = {
        kind: 'kernel',
        kernel: image.files.get(m.boot.kernel.sha256)!,
        initrd: image.files.get(m.boot.initrd.sha256)!,
        cmdline: m.boot.cmdline,
      }
    } else {
      overlay = path.join(dir, 'disk.qcow2')
      await createOverlay({
        backing: image.files.get(m.boot.disk.sha256)!,
        overlay,
        ...(config.diskSizeBytes !== undefined && {
          size: `${Math.ceil(config.diskSizeBytes / 1024 ** 2)}M`,
        }),
      })
      boot = { kind: 'disk', overlay }
    }
    // QEMU's user gets this task's files only: the seed to read, the overlay to write.
    await grantTaskFiles(qemu, {
      dirs: [dir, path.dirname(seedIso)],
      readOnly: [seedIso],
      writable: overlay === undefined ? [] : [overlay],
    })
    await requireReadable(qemu, [seedIso, ...(overlay === undefined ? [] : [overlay])], 'alloc_dir')
    const cpuShares = cpuSharesOf(task)
    // Ports on the node's address go through a relay to a loopback port of QEMU's (port-relays.ts).
    const inner = await reserveInnerPorts(nomadPorts)
    const ports = inner.ports
    try {
      relays = await PortRelays.start(ports, log.child({ domain }))
    } finally {
      // Released just before QEMU binds them (only the XML is rendered in between). A port another
      // process takes in this gap makes QEMU refuse to start, and the start fails as for a taken port.
      await inner.release()
    }
    const xml = renderDomainXml({
      name: domain,
      type,
      memoryMiB,
      vcpus: vcpusOf(task, config.vcpus),
      ...(cpuShares !== undefined && { cpuShares }),
      boot,
      seedIso,
      consoleLog,
      ports,
      guestForwards: egress.grants,
      tbCacheMiB: plugin.tbCacheMiB,
      description: `Nomad task ${task.id}`,
    })
    const creating = Date.now()
    await createDomain(plugin.libvirtUri, xml, path.join(dir, 'domain.xml'), { memoryHardLimitMiB: limitMiB })
    created = true
    const pid = await qemuPid(domain)
    const startTicks = pid === undefined ? undefined : await processStartTicks(pid)
    if (pid === undefined || startTicks === undefined)
      throw new VirtError(
        'LEAN_ERR_VIRT_BOOT',
        `the VM ${domain} was created but its QEMU process is not running`,
      )
    const readyLine = config.readyLine ?? m.guest.readyLine
    if (readyLine) {
      try {
        await waitForConsoleLine(consoleLog, readyLine, {
          timeoutMs: config.bootTimeoutMs,
          abort: async () =>
            (await processStartTicks(pid)) === startTicks ? undefined : 'its QEMU process ended',
          onProgress: (waited) =>
            log.info(
              { domain, waitedS: Math.round(waited / 1000) },
              `booting, no ${readyLine} on the console yet`,
            ),
          progressEveryMs: 15_000,
          intervalMs: 200,
        })
      } catch (err) {
        throw new VirtError(
          'LEAN_ERR_VIRT_BOOT',
          `${(err as Error).message}; last console lines:\n${await consoleTail(consoleLog, 15)}`,
        )
      }
    }
    const state: VmState = {
      version: 1,
      uri: plugin.libvirtUri,
      domain,
      dir,
      consoleLog,
      pid,
      startTicks,
      startedAt: new Date().toISOString(),
      accelerator,
      ports,
      ...(egress.grants.length > 0 && { egress: egress.grants }),
    }
    return {
      state,
      bootMs: Date.now() - creating,
      imageFetched: image.fetched,
      memoryHardLimitMiB: limitMiB,
      egress,
      relays,
      ...(readyLine && { readyLine }),
    }
  } catch (err) {
    egress?.close()
    relays?.close()
    if (created || (await domainState(plugin.libvirtUri, domain).catch(() => undefined)))
      await destroyDomain(plugin.libvirtUri, domain).catch(() => false)
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
