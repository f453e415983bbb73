// The `virt` driver: what is its own in Nomad's task lifecycle for VMs run
// by the cloud's libvirtd (boot one, find it again after a restart, probe
// libvirt and the accelerator). The kit's driverService does the rest.
import path from 'node:path'
import type { Logger } from 'pino'
import { decodeCtyMsgpack } from '../kit/cty-msgpack.ts'
import { sampleProcess } from '../../ground/proc-stats.ts'
import { HealthState } from '../kit/proto/load.ts'
import type { Fingerprint } from '../kit/driver-kit.ts'
import type { Driver, TaskContext } from '../kit/driver.ts'
import { DriverError } from '../kit/errors.ts'
import type { NomadTask } from '../kit/nomad-task.ts'
import { probeAccelerator } from './accelerator.ts'
import { qemuIdentity } from './confinement.ts'
import { domainState } from './domain.ts'
import { EgressProxies } from './egress.ts'
import { VirtError } from './errors.ts'
import { ensureImage } from './image-cache.ts'
import { PortRelays } from './port-relays.ts'
import type { VirtPluginConfig } from './plugin-config.ts'
import { startVm } from './start-vm.ts'
import { virtTaskConfigSpec } from './task-config.ts'
import { VmHandle, type VmState } from './vm-handle.ts'
import { virsh } from './virsh.ts'

export const VIRT_DRIVER_VERSION = '0.1.0'

export interface VirtDriverContext {
  readonly log: Logger
  readonly config: () => VirtPluginConfig
}

interface Accelerator {
  readonly type: 'kvm' | 'tcg'
  readonly reason: string
}

/** What this node's VMs run on, decided once per plugin start. */
async function decideAccelerator(config: VirtPluginConfig, log: Logger): Promise<Accelerator> {
  if (config.accelerator !== 'auto')
    return {
      type: config.accelerator,
      reason: `set by the plugin config (accelerator = "${config.accelerator}")`,
    }
  if (!config.probeImage)
    return { type: 'tcg', reason: 'no probe_image in the plugin config to test KVM with' }
  const sha256 = path.basename(config.probeImage).replace(/\.json$/, '')
  const image = await ensureImage(
    { sha256, location: config.probeImage },
    { cacheDir: config.imageCacheDir, imagePaths: config.imagePaths },
  )
  const m = image.manifest
  if (m.boot.kind !== 'kernel')
    throw new VirtError('LEAN_ERR_VIRT_CONFIG', `plugin config probe_image: ${m.name} is not a kernel image`)
  const probe = await probeAccelerator({
    uri: config.libvirtUri,
    kernel: image.files.get(m.boot.kernel.sha256)!,
    initrd: image.files.get(m.boot.initrd.sha256)!,
    cmdline: m.boot.cmdline,
    readyLine: m.guest.readyLine ?? 'READY',
    memoryMiB: Math.max(m.guest.minMemoryMiB, 128),
    workDir: path.join(config.imageCacheDir, 'probe'),
    progress: (message) => log.info(message),
  })
  return { type: probe.type === 'kvm' ? 'kvm' : 'tcg', reason: `${probe.reason} (probe took ${probe.ms} ms)` }
}

export function virtDriver(ctx: VirtDriverContext): Driver<VmHandle> {
  let accelerator: Promise<Accelerator> | undefined
  let libvirtVersion: string | undefined

  const acceleratorOnce = () => {
    accelerator ??= decideAccelerator(ctx.config(), ctx.log).catch((err: Error) => {
      accelerator = undefined // try again at the next fingerprint
      throw err
    })
    return accelerator
  }

  /** One fingerprint: healthy once libvirt answers and the accelerator is known. */
  async function fingerprint(): Promise<Fingerprint> {
    const config = ctx.config()
    const attributes: Record<string, { string_val: string }> = { 'driver.virt.version': { string_val: VIRT_DRIVER_VERSION } }
    try {
      const out = await virsh(config.libvirtUri, ['version'], { timeoutMs: 120_000 })
      libvirtVersion =
        /(?:Running against daemon|Using library): libvirt ([\d.]+)/.exec(out)?.[1] ?? libvirtVersion
      if (libvirtVersion) attributes['driver.virt.libvirt'] = { string_val: libvirtVersion }
    } catch (err) {
      return {
        health: HealthState.UNDETECTED,
        health_description: `libvirt at ${config.libvirtUri} does not answer: ${(err as Error).message}`,
        attributes,
      }
    }
    try {
      const qemu = await qemuIdentity(config.libvirtUri)
      attributes['driver.virt.qemu_user'] = { string_val: `${qemu.uid}:${qemu.gid}` }
    } catch (err) {
      return {
        health: HealthState.UNHEALTHY,
        health_description: (err as Error).message,
        attributes,
      }
    }
    try {
      const accel = await acceleratorOnce()
      attributes['driver.virt.accelerator'] = { string_val: accel.type }
      return {
        health: HealthState.HEALTHY,
        health_description: `Healthy (${accel.type}: ${accel.reason})`,
        attributes,
      }
    } catch (err) {
      return {
        health: HealthState.UNHEALTHY,
        health_description: `accelerator probe failed: ${(err as Error).message}`,
        attributes,
      }
    }
  }

  async function start(task: NomadTask, tc: TaskContext) {
    const raw = decodeCtyMsgpack(task.msgpack_driver_config)
    const accel = await acceleratorOnce()
    const result = await startVm(
      task,
      Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)),
      ctx.config(),
      accel.type,
      tc.log,
    )
    const handle = new VmHandle(task.id, result.state)
    handle.holdUntilExit(result.egress)
    handle.holdUntilExit(result.relays)
    void handle.forwardConsole(task.stdout_path, true)
    const ports = result.state.ports.map((p) => `${p.hostAddress}:${p.hostPort}→${p.guestPort}${p.innerPort === undefined ? '' : ` (relayed via 127.0.0.1:${p.innerPort})`}`).join(', ')
    const ready = result.readyLine ? `${result.readyLine} on its console` : 'running'
    const egress = result.egress.grants.map((g) => `${g.service} at ${g.guestAddress}:${g.guestPort}`)
    tc.log.info({ domain: result.state.domain, pid: result.state.pid, bootMs: result.bootMs }, 'VM started')
    return {
      task: handle,
      state: result.state,
      address: result.state.ports[0]?.hostAddress ?? '127.0.0.1',
      message: `VM ${result.state.domain} (${accel.type}) ${ready} in ${(result.bootMs / 1000).toFixed(1)} s${result.imageFetched ? ', image fetched and verified' : ''}${ports ? `; ports ${ports}` : ''}${egress.length ? `; egress ${egress.join(', ')}` : ''}; memory limit ${result.memoryHardLimitMiB} MiB`,
    }
  }

  async function recover(task: NomadTask, saved: unknown, tc: TaskContext) {
    const state = saved as VmState
    if (state?.version !== 1 || !state.domain)
      throw new DriverError('LEAN_ERR_DRIVER_RECOVER', `task ${task.id}: driver state is missing or of an unknown version`)
    const running = (await domainState(state.uri, state.domain)) === 'running'
    const handle = new VmHandle(
      task.id,
      state,
      running
        ? undefined
        : { exitCode: 1, signal: 0, error: `the VM ${state.domain} is gone (it stopped while the driver was away)` },
    )
    if (running && state.egress?.length) {
      // Back on the ports QEMU's guestfwd streams dial (it retries every second meanwhile).
      const grants = state.egress.map((g) => ({ service: g.service, proxyPort: g.proxyPort }))
      await EgressProxies.start(grants, ctx.config().consulDns, ctx.log).then(
        (egress) => handle.holdUntilExit(egress),
        (err: Error) => tc.log.error({ err: err.message }, 'egress proxies not restored: the guest reaches none'),
      )
    }
    if (running && state.ports?.some((p) => p.innerPort !== undefined)) {
      // Back on the ports Nomad allocated, piping to the loopback ports QEMU still forwards from.
      await PortRelays.start(state.ports, tc.log.child({ domain: state.domain })).then(
        (relays) => handle.holdUntilExit(relays),
        (err: Error) => tc.log.error({ err: err.message }, 'port relays not restored: the VM is reachable from loopback only'),
      )
    }
    if (running && task.stdout_path) void handle.forwardConsole(task.stdout_path, false)
    tc.log.info({ domain: state.domain, running }, 'recovered VM task')
    return handle
  }

  return {
    name: 'virt',
    taskConfigSpec: virtTaskConfigSpec,
    // Ports are forwarded by QEMU from the node's address; a guest understands the power button, not signals.
    sendsSignals: false,
    defaultStopTimeoutMs: 30_000,
    noExec: 'exec into a VM is not supported; use ssh through a forwarded port',
    // First a quick "not yet" so Nomad knows the driver; the probe takes seconds.
    firstFingerprint: {
      health: HealthState.UNDETECTED,
      health_description: 'probing libvirt and the accelerator',
      attributes: { 'driver.virt.version': { string_val: VIRT_DRIVER_VERSION } },
    },
    fingerprint,
    start,
    recover,
    sample: sampleProcess,
  }
}
