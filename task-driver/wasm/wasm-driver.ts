// The `wasm` driver: what is its own in Nomad's task lifecycle (start a
// component's wasmtime host, find it again after a restart, say whether this
// node can run one). The kit's driverService does the rest.
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import type { Logger } from 'pino'
import { decodeCtyMsgpack } from '../kit/cty-msgpack.ts'
import { DriverError } from '../kit/errors.ts'
import { HealthState } from '../kit/proto/load.ts'
import type { CapabilityServer } from '../capabilities/capability-server.ts'
import { defaultComponentSources } from './fetch-component.ts'
import type { RunnerSpec, TaskReservation } from './runner-spec.ts'
import { parseTaskConfig, taskConfigSpec } from './task-config.ts'
import type { Fingerprint } from '../kit/driver-kit.ts'
import type { Driver, TaskContext } from '../kit/driver.ts'
import { findPort, type NomadTask } from '../kit/nomad-task.ts'
import { sampleProcessTree } from '../../ground/proc-stats.ts'
import type { PluginConfig } from './plugin-config.ts'
import { grantedBackends, launchTask } from './launch-task.ts'
import { TaskHandle, type DriverState } from './task-handle.ts'
import { detectCgroupLayout } from './task-cgroup.ts'
import { recoveredCapabilities, serveCapabilities } from './wasmtime-task.ts'

export const DRIVER_VERSION = '0.1.0'

// Task env the guest may see; the rest (tokens, host paths) stays on the host.
const GUEST_NOMAD_VARS = ['NOMAD_ALLOC_ID', 'NOMAD_ALLOC_INDEX', 'NOMAD_ALLOC_NAME', 'NOMAD_JOB_NAME', 'NOMAD_GROUP_NAME', 'NOMAD_TASK_NAME', 'NOMAD_DC', 'NOMAD_REGION', 'NOMAD_NAMESPACE']


export interface WasmDriverContext {
  readonly log: Logger
  readonly config: () => PluginConfig
}

/** The backends the capability API reaches, from the plugin config (every bucket's identity: launchTask keeps only the granted ones). */
function capabilityBackends(pluginConfig: PluginConfig): RunnerSpec['capabilities'] {
  return {
    ...(pluginConfig.s3 && { fetchS3: pluginConfig.s3 }),
    buckets: pluginConfig.s3Buckets,
    ...(pluginConfig.databaseUrl && { databaseUrl: pluginConfig.databaseUrl }),
    ...(pluginConfig.consulDns && { consulDns: pluginConfig.consulDns }),
    ...(pluginConfig.smtp && { smtp: pluginConfig.smtp }),
  }
}

/**
 * What Nomad reserved for the task: memory (memory_max when the job sets one),
 * CPU shares, and the cpuset cgroup it made.
 */
function reservationOf(task: NomadTask): TaskReservation {
  const linux = task.resources?.linux_resources ?? {}
  const memory = task.resources?.allocated_resources?.memory ?? {}
  const memoryBytes = Number(linux.memory_limit_bytes) || Number(memory.memory_max_mb || memory.memory_mb || 0) * 1024 * 1024
  if (!(memoryBytes > 0)) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', 'invalid task: resources.memory: Nomad sent no memory reservation for the task')
  const nomadCgroup = typeof linux.cpuset_cgroup === 'string' && linux.cpuset_cgroup !== '' ? linux.cpuset_cgroup : undefined
  const cpuShares = Number(linux.cpu_shares) || Number(task.resources?.allocated_resources?.cpu?.cpu_shares) || 100
  return { memoryBytes, cpuShares, ...(nomadCgroup && { nomadCgroup }) }
}

export function wasmDriver(ctx: WasmDriverContext): Driver<TaskHandle> {
  /** Runner events (instance replaced: trap, memory, timeout) become Nomad task events. */
  function forward(handle: TaskHandle, task: TaskContext, fromStart: boolean): void {
    void handle.forwardEvents((event) => task.emit(event.message, event.annotations), fromStart)
  }

  /** A node that cannot run a task (no host binary, no cgroups to hold it) says so, and Nomad places no task there. */
  async function fingerprint(): Promise<Fingerprint> {
    const unfit = !ctx.config().wasmtimeHost
      ? 'the plugin config names no wasmtime_host'
      : !(await detectCgroupLayout())
        ? 'this node mounts no cgroup memory, cpu and pids controllers to hold a task to its reservation'
        : undefined
    return {
      health: unfit ? HealthState.UNHEALTHY : HealthState.HEALTHY,
      health_description: unfit ? `Unhealthy: ${unfit}` : 'Healthy',
      attributes: {
        'driver.wasm.version': { string_val: DRIVER_VERSION },
        'driver.wasm.engines': { string_val: ctx.config().wasmtimeHost ? 'wasmtime' : '' },
        'driver.wasm.node': { string_val: process.versions.node },
      },
    }
  }

  async function start(task: NomadTask, tc: TaskContext) {
    const raw = decodeCtyMsgpack(task.msgpack_driver_config)
    const config = parseTaskConfig(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)))
    const port = findPort(task, config.port)
    if (!port) throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `invalid task config: port: no port labelled "${config.port}" in the group's network block`)
    const { hostAddress: host, hostPort } = port
    const guestEnv: Record<string, string> = {}
    for (const k of GUEST_NOMAD_VARS) if (task.env[k] !== undefined) guestEnv[k] = task.env[k]
    Object.assign(guestEnv, config.env)
    const pluginConfig = ctx.config()
    const spec: RunnerSpec = {
      taskId: task.id,
      config,
      host,
      port: hostPort,
      cacheDir: pluginConfig.cacheDir,
      stateDir: path.join(task.alloc_dir, task.name, '.wasm-runner'),
      guestEnv,
      capabilities: capabilityBackends(pluginConfig),
      capabilityToken: randomBytes(24).toString('base64url'),
      reservation: reservationOf(task),
      ...(pluginConfig.wasmtimeHost && { wasmtimeHost: pluginConfig.wasmtimeHost }),
      ...(pluginConfig.outboundCaFile && { outboundCaFile: pluginConfig.outboundCaFile }),
    }
    tc.log.info({ component: config.component, address: `${host}:${hostPort}` }, 'starting task')
    // Where components may come from is this client's decision: its plugin config (the artifacts object only, by default).
    const sources = pluginConfig.componentSources ?? defaultComponentSources()
    const { handle, ready, capabilities } = await launchTask(spec, task.stdout_path, task.stderr_path, tc.log, ctx.log, sources)
    keepCapabilities(handle, capabilities)
    forward(handle, tc, true)
    const how = ready.cached ? 'from the compile cache' : 'after fetching and compiling'
    const state: DriverState = handle.state
    return { task: handle, state, address: host, message: `Component serving on ${host}:${hostPort} ${how} in ${ready.startMs} ms` }
  }

  /** Serves a task's capability API until the task ends (DestroyTask waits for that end). */
  function keepCapabilities(handle: TaskHandle, server: CapabilityServer): void {
    void handle.waitExit().then(() => server.close().catch(() => {}))
  }

  /** After a plugin restart: the host still calls the same address with the same token. */
  async function recoverCapabilities(handle: TaskHandle): Promise<void> {
    const port = handle.state.capabilityPort
    if (port === undefined || handle.exited) return
    const saved = await recoveredCapabilities(handle.state.stateDir)
    if (!saved) throw new DriverError('LEAN_ERR_DRIVER_RECOVER', `task ${handle.id}: its capabilities file is gone, so its capability API cannot be served again`)
    const server = await serveCapabilities(saved, grantedBackends(capabilityBackends(ctx.config()), saved.grants), saved.token, ctx.log.child({ task_id: handle.id }), port, ctx.log)
    keepCapabilities(handle, server)
  }

  async function recover(task: NomadTask, state: unknown, tc: TaskContext) {
    const handle = await TaskHandle.recover(task.id, state as DriverState)
    // The task serves on without its capability API if that cannot come back
    // (its port taken meanwhile): its guest's calls fail, visibly, until Nomad restarts it.
    await recoverCapabilities(handle).catch((err: Error) => {
      tc.log.error({ err: err.message }, "cannot serve the recovered task's capability API")
      tc.emit(`Capability API not restored after the driver restarted: ${err.message}`)
    })
    forward(handle, tc, false)
    tc.log.info({ pid: handle.pid }, 'recovered task')
    return handle
  }

  return {
    name: 'wasm',
    taskConfigSpec,
    sendsSignals: true,
    defaultStopTimeoutMs: 5000,
    noExec: 'exec into a wasm task is not supported: a component has no shell; read its logs instead',
    fingerprint,
    start,
    recover,
    sample: sampleProcessTree,
  }
}
