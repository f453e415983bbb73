// A task's own cgroup, so the kernel enforces the memory, CPU share and
// process count Nomad reserved for it. Nomad 1.6 gives a custom driver only
// a cpuset cgroup (per task on cgroup v2, a shared one on v1) and leaves the
// limits and the joining to the driver. So the driver:
// - on cgroup v2, uses Nomad's per-task cgroup when it names one, else makes
//   `<root>/lean.tasks/<task>`; writes memory.max, memory.swap.max, cpu.weight, pids.max;
// - on cgroup v1, makes `<controller>/lean.tasks/<task>` in the memory, cpu and
//   pids hierarchies; writes memory.limit_in_bytes (and memsw, so swap is no way
//   around it), cpu.shares, pids.max; and joins Nomad's cpuset cgroup as well.
// The process joins before it execs (joinCommand), so nothing it allocates is
// charged elsewhere.
import { createHash } from 'node:crypto'
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { DriverError } from '../kit/errors.ts'

export type CgroupLayout =
  | { readonly version: 2; readonly root: string }
  | { readonly version: 1; readonly memory: string; readonly cpu: string; readonly pids: string }

export interface TaskLimits {
  readonly memoryBytes: number
  /** Nomad's cpu shares (its MHz reservation). */
  readonly cpuShares: number
  readonly pidsMax: number
}

/** What a task's process joins and where its limits live; kept in the driver state. */
export interface TaskCgroup {
  readonly version: 1 | 2
  /** The directories this driver made (removed when the task ends). */
  readonly made: readonly string[]
  /** Every cgroup.procs the process joins. */
  readonly procs: readonly string[]
  /** The directory holding the memory controller's files. */
  readonly memoryDir: string
}

/** Threads count as pids: the wasmtime host runs a few per core. */
export const DEFAULT_TASK_PIDS_MAX = 1024
const PARENT = 'lean.tasks'

/** The node's cgroup hierarchies, from a /proc/self/mounts text; undefined when the ones needed are missing. */
export function cgroupLayoutFromMounts(mounts: string): CgroupLayout | undefined {
  const v1: Record<string, string> = {}
  let v2: string | undefined
  for (const line of mounts.split('\n')) {
    const [, dir, type, options] = line.split(' ')
    if (!dir || !options) continue
    if (type === 'cgroup2') v2 ??= dir
    if (type === 'cgroup') for (const option of options.split(',')) v1[option] ??= dir
  }
  if (v1.memory && v1.cpu && v1.pids) return { version: 1, memory: v1.memory, cpu: v1.cpu, pids: v1.pids }
  // A hybrid host mounts cgroup2 too (/sys/fs/cgroup/unified), without controllers: only a pure v2 host counts.
  if (v2 && Object.keys(v1).every((c) => c.startsWith('name='))) return { version: 2, root: v2 }
  return undefined
}

export async function detectCgroupLayout(): Promise<CgroupLayout | undefined> {
  return cgroupLayoutFromMounts(await readFile('/proc/self/mounts', 'utf8').catch(() => ''))
}

/** A directory name for the task: Nomad's task ids hold `/`; anything else unusual is hashed. */
export function cgroupName(taskId: string): string {
  const plain = taskId.replaceAll('/', '.')
  return /^[A-Za-z0-9_.-]{1,200}$/.test(plain) && !plain.startsWith('.')
    ? plain
    : `task-${createHash('sha256').update(taskId).digest('hex').slice(0, 32)}`
}

/** cgroup v2's cpu.weight (1..10000) for v1 shares (2..262144), the mapping runc and systemd use. */
export function cpuWeight(shares: number): number {
  const s = Math.min(Math.max(Math.round(shares), 2), 262_144)
  return 1 + Math.floor(((s - 2) * 9999) / 262_142)
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  )
}

async function write(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value)
  } catch (err) {
    throw new DriverError(
      'LEAN_ERR_DRIVER_CGROUP',
      `cannot set ${file} to ${value}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
  } catch (err) {
    throw new DriverError(
      'LEAN_ERR_DRIVER_CGROUP',
      `cannot make the task's cgroup ${dir}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

/**
 * Makes (or takes Nomad's) cgroup for the task and sets its limits.
 * `nomadCgroup`: the absolute cpuset cgroup Nomad made for the task, if any.
 */
export async function createTaskCgroup(
  layout: CgroupLayout,
  taskId: string,
  limits: TaskLimits,
  nomadCgroup?: string,
): Promise<TaskCgroup> {
  const name = cgroupName(taskId)
  if (layout.version === 2) {
    const nomadOwn =
      nomadCgroup && nomadCgroup.startsWith(layout.root + '/') && !nomadCgroup.endsWith('/shared')
        ? nomadCgroup
        : undefined
    let dir = nomadOwn
    const made: string[] = []
    if (!dir) {
      const parent = path.join(layout.root, PARENT)
      await makeDir(parent)
      // Controllers reach a child only when its parent delegates them.
      await write(path.join(parent, 'cgroup.subtree_control'), '+memory +cpu +pids')
      dir = path.join(parent, name)
      await makeDir(dir)
      made.push(dir)
    }
    await write(path.join(dir, 'memory.max'), String(limits.memoryBytes))
    if (await exists(path.join(dir, 'memory.swap.max'))) await write(path.join(dir, 'memory.swap.max'), '0')
    await write(path.join(dir, 'cpu.weight'), String(cpuWeight(limits.cpuShares)))
    await write(path.join(dir, 'pids.max'), String(limits.pidsMax))
    return { version: 2, made, procs: [path.join(dir, 'cgroup.procs')], memoryDir: dir }
  }
  const memoryDir = path.join(layout.memory, PARENT, name)
  const cpuDir = path.join(layout.cpu, PARENT, name)
  const pidsDir = path.join(layout.pids, PARENT, name)
  const made = [...new Set([memoryDir, cpuDir, pidsDir])]
  for (const dir of made) await makeDir(dir)
  await write(path.join(memoryDir, 'memory.limit_in_bytes'), String(limits.memoryBytes))
  // memsw is memory plus swap: equal to the limit, swapping cannot stretch it (absent when swap accounting is off).
  if (await exists(path.join(memoryDir, 'memory.memsw.limit_in_bytes')))
    await write(path.join(memoryDir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes))
  await write(path.join(cpuDir, 'cpu.shares'), String(Math.max(2, Math.round(limits.cpuShares))))
  await write(path.join(pidsDir, 'pids.max'), String(limits.pidsMax))
  const procs = made.map((dir) => path.join(dir, 'cgroup.procs'))
  // Nomad's cpuset cgroup (shared on v1) carries its core reservations.
  if (nomadCgroup && (await exists(path.join(nomadCgroup, 'cgroup.procs'))))
    procs.push(path.join(nomadCgroup, 'cgroup.procs'))
  return { version: 1, made, procs, memoryDir }
}

/**
 * The command that starts `command` inside the cgroup: a shell writes its own
 * pid into every cgroup.procs, then execs the command (same pid). The paths
 * and the command are positional parameters, never part of the script.
 */
export function joinCommand(
  cgroup: TaskCgroup,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  const script = 'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'
  return { command: '/bin/sh', args: ['-c', script, 'lean-task', ...cgroup.procs, '--', command, ...args] }
}

/** How many times the kernel killed a process of the cgroup for memory. */
export async function oomKills(cgroup: TaskCgroup): Promise<number> {
  const file = path.join(cgroup.memoryDir, cgroup.version === 2 ? 'memory.events' : 'memory.oom_control')
  const text = await readFile(file, 'utf8').catch(() => '')
  const match = /^oom_kill (\d+)$/m.exec(text)
  return match ? Number(match[1]) : 0
}

/** Removes the directories this driver made; a cgroup still holding a process stays (EBUSY). */
export async function removeTaskCgroup(cgroup: TaskCgroup): Promise<void> {
  for (const dir of cgroup.made) await rmdir(dir).catch(() => {})
}
