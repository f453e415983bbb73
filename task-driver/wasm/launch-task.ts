// Starts one task's process the way StartTask does: the wasmtime host itself,
// with the task's capability API served from this process. Benchmarks and
// tests use it too, so what they measure is what Nomad gets.
import path from 'node:path'
import type { Logger } from 'pino'
import type { CapabilityBackends, CapabilityServer } from '../capabilities/capability-server.ts'
import { defaultComponentSources, type ComponentAccess, type ComponentSources } from './fetch-component.ts'
import type { ReadyReport, RunnerSpec } from './runner-spec.ts'
import { DriverError } from '../kit/errors.ts'
import type { Grants } from './task-config.ts'
import { compileApart } from './compile-apart.ts'
import { createTaskCgroup, DEFAULT_TASK_PIDS_MAX, detectCgroupLayout } from './task-cgroup.ts'
import { TaskHandle, type Launch } from './task-handle.ts'
import { prepareWasmtimeLaunch, serveCapabilities } from './wasmtime-task.ts'

export interface LaunchedTask {
  readonly handle: TaskHandle
  readonly ready: ReadyReport
  /** The task's capability API, served by this process; close it when the task ends. */
  readonly capabilities: CapabilityServer
}

/**
 * The backends with only the S3 identities of the task's granted buckets: a
 * task's capability API never holds a key that S3 would honour on a bucket
 * the task was not granted.
 */
export function grantedBackends(backends: CapabilityBackends, grants: Grants): CapabilityBackends {
  const { buckets, ...rest } = backends
  const granted = Object.entries(buckets ?? {}).filter(([bucket]) => grants.buckets.includes(bucket))
  return { ...rest, buckets: Object.fromEntries(granted) }
}

const MIB = 1024 * 1024

/**
 * Every instance may grow to instance_memory, so together they must fit the
 * task's reserved memory, or the kernel would stop the task before any
 * instance reached its own limit.
 */
export function assertInstancesFit(spec: RunnerSpec): void {
  const reserved = spec.reservation?.memoryBytes
  const { instances, instanceMemoryBytes } = spec.config
  if (reserved === undefined || instances * instanceMemoryBytes <= reserved) return
  const mib = (n: number) => `${Math.round((n / MIB) * 10) / 10} MiB`
  throw new DriverError(
    'LEAN_ERR_DRIVER_CONFIG',
    `invalid task config: instance_memory: ${instances} instances × ${mib(instanceMemoryBytes)} = ${mib(instances * instanceMemoryBytes)} is more than the task's reserved memory, ${mib(reserved)} (resources.memory)`,
  )
}

/**
 * Puts the host's launch into the task's own cgroup, with the memory, CPU and
 * process limits Nomad reserved, once its component is compiled apart from
 * the task (compile-apart.ts).
 */
async function confine(spec: RunnerSpec, launch: Launch): Promise<Launch> {
  const reserved = spec.reservation
  if (!reserved) return launch
  const layout = await detectCgroupLayout()
  if (!layout) {
    throw new DriverError('LEAN_ERR_DRIVER_CGROUP', "this node mounts no cgroup memory, cpu and pids controllers, so the task's reserved memory and CPU cannot be enforced")
  }
  const env = await compileApart(layout, `${spec.taskId}/compile`, launch.command, launch.args[0]!)
  const limits = { memoryBytes: reserved.memoryBytes, cpuShares: reserved.cpuShares, pidsMax: DEFAULT_TASK_PIDS_MAX }
  return { ...launch, env: { ...launch.env, ...env }, cgroup: await createTaskCgroup(layout, spec.taskId, limits, reserved.nomadCgroup) }
}

/**
 * What a caller outside Nomad (tests, benches) may fetch when it gives no
 * `sources`: the local file it names itself, or the artifacts object. The
 * plugin always passes its config's component_* options.
 */
function callersOwnFile(source: string): ComponentSources {
  return { ...defaultComponentSources(), paths: source.startsWith('/') ? [path.dirname(source)] : [] }
}

/**
 * `log` is the task's logger; `processLog` this process's (for what its tasks
 * share, such as the outbox loop); `sources` where components may come from
 * (the plugin config's component_paths, component_hosts, component_max_size).
 */
export async function launchTask(
  given: RunnerSpec,
  stdoutPath: string,
  stderrPath: string,
  log: Logger,
  processLog: Logger = log,
  sources: ComponentSources = callersOwnFile(given.config.component),
): Promise<LaunchedTask> {
  const spec: RunnerSpec = { ...given, capabilities: grantedBackends(given.capabilities, given.config.grants) }
  const fetchS3 = given.capabilities.fetchS3
  const access: ComponentAccess = { ...sources, ...(fetchS3 && { s3: fetchS3 }) }
  assertInstancesFit(spec)
  await TaskHandle.prepareStateDir(spec.stateDir)
  const capabilities = await serveCapabilities(spec.config, spec.capabilities, spec.capabilityToken, log, 0, processLog)
  try {
    const launch = await confine(spec, await prepareWasmtimeLaunch(spec, capabilities, access))
    return { ...(await TaskHandle.start(launch, stdoutPath, stderrPath)), capabilities }
  } catch (err) {
    await capabilities.close().catch(() => {})
    throw err
  }
}
