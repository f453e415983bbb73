// The Driver service of the `virt` plugin: Nomad's task lifecycle calls for
// VMs run by the cloud's libvirtd. Unknown task ids are answered
// idempotently where Nomad retries (stop, destroy).
import path from 'node:path'
import type { ServerWritableStream } from '@grpc/grpc-js'
import type { Logger } from 'pino'
import { decodeCtyMsgpack } from '../kit/cty-msgpack.ts'
import { sampleProcess } from '../../ground/proc-stats.ts'
import { FSIsolation, HealthState, MountConfigs, TaskState } from '../kit/proto/load.ts'
import { unary } from '../kit/grpc-errors.ts'
import { durationMs, inspectTaskResponse } from '../kit/messages.ts'
import { serveFingerprints, TaskEventHub, type Fingerprint } from '../kit/driver-kit.ts'
import { streamTaskStats } from '../kit/stats-stream.ts'
import { probeAccelerator } from './accelerator.ts'
import { qemuIdentity } from './confinement.ts'
import { domainState } from './domain.ts'
import { EgressProxies } from './egress.ts'
import { VirtError } from './errors.ts'
import { ensureImage } from './image-cache.ts'
import type { VirtPluginConfig } from './plugin-config.ts'
import { startVm } from './start-vm.ts'
import { virtTaskConfigSpec } from './task-config.ts'
import { VmHandle, type VmState } from './vm-handle.ts'
import { virsh } from './virsh.ts'

export const VIRT_DRIVER_VERSION = '0.1.0'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

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

export function createVirtDriverService(ctx: VirtDriverContext) {
  const tasks = new Map<string, VmHandle>()
  /** Each task's egress proxies, closed when its VM ends. */
  const proxies = new Map<string, EgressProxies>()
  const events = new TaskEventHub()
  let accelerator: Promise<Accelerator> | undefined
  let libvirtVersion: string | undefined

  const acceleratorOnce = () => {
    accelerator ??= decideAccelerator(ctx.config(), ctx.log).catch((err: Error) => {
      accelerator = undefined // try again at the next fingerprint
      throw err
    })
    return accelerator
  }

  function emit(task: Obj, message: string): void {
    events.emit({ task_id: task.id, alloc_id: task.alloc_id, task_name: task.name, message })
  }

  /** Keeps a task's proxies until its VM ends: nothing of the grant outlives the guest. */
  function keepProxies(id: string, handle: VmHandle, egress: EgressProxies): void {
    proxies.set(id, egress)
    void handle.waitExit().then(() => dropProxies(id))
  }

  function dropProxies(id: string): void {
    proxies.get(id)?.close()
    proxies.delete(id)
  }

  function handleOf(id: string): VmHandle {
    const handle = tasks.get(id)
    if (!handle) throw new VirtError('LEAN_ERR_VIRT_TASK', `task ${id} is not known to the virt driver`)
    return handle
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

  async function startTask(task: Obj) {
    const log = ctx.log.child({ task_id: task.id, alloc_id: task.alloc_id })
    if (tasks.has(task.id))
      throw new VirtError('LEAN_ERR_VIRT_DOMAIN_EXISTS', `task ${task.id} is already running`)
    try {
      const raw = decodeCtyMsgpack(task.msgpack_driver_config)
      const accel = await acceleratorOnce()
      const result = await startVm(
        task,
        Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)),
        ctx.config(),
        accel.type,
        log,
      )
      const handle = new VmHandle(task.id, result.state)
      tasks.set(task.id, handle)
      keepProxies(task.id, handle, result.egress)
      void handle.forwardConsole(task.stdout_path, true)
      const ports = result.state.ports.map((p) => `${p.hostAddress}:${p.hostPort}→${p.guestPort}`).join(', ')
      const ready = result.readyLine ? `${result.readyLine} on its console` : 'running'
      const egress = result.egress.grants.map((g) => `${g.service} at ${g.guestAddress}:${g.guestPort}`)
      emit(
        task,
        `VM ${result.state.domain} (${accel.type}) ${ready} in ${(result.bootMs / 1000).toFixed(1)} s${result.imageFetched ? ', image fetched and verified' : ''}${ports ? `; ports ${ports}` : ''}${egress.length ? `; egress ${egress.join(', ')}` : ''}; memory limit ${result.memoryHardLimitMiB} MiB`,
      )
      log.info({ domain: result.state.domain, pid: result.state.pid, bootMs: result.bootMs }, 'VM started')
      return {
        handle: {
          version: 1,
          config: task,
          state: TaskState.RUNNING,
          driver_state: Buffer.from(JSON.stringify(result.state)),
        },
        network_override: {
          port_map: {},
          addr: result.state.ports[0]?.hostAddress ?? '127.0.0.1',
          auto_advertise: false,
        },
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'VM failed to start')
      emit(task, `Failed to start: ${(err as Error).message}`)
      throw err
    }
  }

  async function recoverTask(req: Obj) {
    const config = req.handle?.config as Obj | undefined
    const id = config?.id as string | undefined
    if (!id) throw new VirtError('LEAN_ERR_VIRT_TASK', 'recover: the handle carries no task id')
    if (tasks.has(id)) return {}
    const state = JSON.parse(Buffer.from(req.handle.driver_state ?? []).toString('utf8') || '{}') as VmState
    if (state.version !== 1 || !state.domain)
      throw new VirtError(
        'LEAN_ERR_VIRT_TASK',
        `task ${id}: driver state is missing or of an unknown version`,
      )
    const running = (await domainState(state.uri, state.domain)) === 'running'
    const handle = new VmHandle(
      id,
      state,
      running
        ? undefined
        : {
            exitCode: 1,
            signal: 0,
            error: `the VM ${state.domain} is gone (it stopped while the driver was away)`,
          },
    )
    tasks.set(id, handle)
    if (running && state.egress?.length) {
      // Back on the ports QEMU's guestfwd streams dial (it retries every second meanwhile).
      const grants = state.egress.map((g) => ({ service: g.service, proxyPort: g.proxyPort }))
      await EgressProxies.start(grants, ctx.config().consulDns, ctx.log).then(
        (egress) => keepProxies(id, handle, egress),
        (err: Error) =>
          ctx.log.error(
            { task_id: id, err: err.message },
            'egress proxies not restored: the guest reaches none',
          ),
      )
    }
    if (running && config?.stdout_path) void handle.forwardConsole(config.stdout_path, false)
    ctx.log.info({ task_id: id, domain: state.domain, running }, 'recovered VM task')
    return {}
  }

  return {
    Init: unary(() => ({})),
    Shutdown: unary(() => ({})),
    TaskConfigSchema: unary(() => ({ spec: virtTaskConfigSpec })),
    Capabilities: unary(() => ({
      // Ports are forwarded by QEMU from the node's address; Nomad mounts nothing into a VM.
      capabilities: {
        send_signals: false,
        exec: false,
        fs_isolation: FSIsolation.NONE,
        mount_configs: MountConfigs.NO_MOUNTS,
      },
    })),

    Fingerprint(call: ServerWritableStream<Obj, Obj>) {
      // First a quick "not yet" so Nomad knows the driver; the probe takes seconds.
      serveFingerprints(call, fingerprint, {
        health: HealthState.UNDETECTED,
        health_description: 'probing libvirt and the accelerator',
        attributes: { 'driver.virt.version': { string_val: VIRT_DRIVER_VERSION } },
      })
    },

    TaskEvents(call: ServerWritableStream<Obj, Obj>) {
      events.serve(call)
    },

    StartTask: unary((req: Obj) => startTask(req.task)),
    RecoverTask: unary(recoverTask),

    WaitTask: unary(async (req: Obj) => {
      const exit = await handleOf(req.task_id).waitExit()
      return {
        result: { exit_code: exit.exitCode, signal: exit.signal, oom_killed: false },
        err: exit.error ?? '',
      }
    }),

    StopTask: unary(async (req: Obj) => {
      const handle = tasks.get(req.task_id)
      if (handle) await handle.stop(durationMs(req.timeout, 30_000))
      return {}
    }),

    DestroyTask: unary(async (req: Obj) => {
      const handle = tasks.get(req.task_id)
      if (!handle) return {}
      if (await handle.isRunning()) {
        if (!req.force)
          throw new VirtError(
            'LEAN_ERR_VIRT_DOMAIN_EXISTS',
            `task ${req.task_id} is still running; stop it first`,
          )
        await handle.kill()
        await handle.waitExit()
      }
      await handle.removeFiles()
      dropProxies(req.task_id)
      tasks.delete(req.task_id)
      return {}
    }),

    InspectTask: unary(async (req: Obj) => {
      const handle = handleOf(req.task_id)
      const { domain, pid, accelerator } = handle.state
      const attributes = { domain, pid: String(pid), accelerator }
      return inspectTaskResponse({
        id: handle.id,
        startedAt: handle.state.startedAt,
        exit: handle.exited,
        attributes,
      })
    }),

    TaskStats(call: ServerWritableStream<Obj, Obj>) {
      const handle = handleOf(call.request.task_id)
      const source = {
        id: handle.id,
        pid: handle.state.pid,
        ended: () => handle.exited !== undefined,
        sample: sampleProcess,
      }
      streamTaskStats(call, source, durationMs(call.request.collection_interval, 1000))
    },

    SignalTask: unary(async () => {
      throw new VirtError('LEAN_ERR_VIRT_TASK', 'a VM takes no signals; stop or restart the task instead')
    }),
    ExecTask: unary(async () => {
      throw new VirtError(
        'LEAN_ERR_VIRT_TASK',
        'exec into a VM is not supported; use ssh through a forwarded port',
      )
    }),
  }
}
