// Process liveness and resource usage from /proc, for processes that are not
// our children (a runner started by an earlier plugin instance).
import { readFile, readdir } from 'node:fs/promises'
import os from 'node:os'

const CLOCK_TICKS = 100 // USER_HZ on Linux

export interface ProcSample {
  readonly cpuTicks: number // user + system, in clock ticks
  readonly userTicks: number
  readonly systemTicks: number
  readonly rssBytes: number
  readonly maxRssBytes: number
  readonly at: number
}

/** Start time in ticks since boot (field 22), or undefined when the process is gone or a zombie. */
export async function processStartTicks(pid: number): Promise<string | undefined> {
  try {
    // The command name (field 2) may contain spaces; fields resume after the last ')'.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined
    return rest[19]
  } catch {
    return undefined
  }
}

/** A `Name:   123 kB` field of a /proc status-like file, in bytes; 0 when absent. */
const kbField = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024

export interface ProcessMemory {
  /** VmRSS: resident pages, shared ones counted in full for each mapping. */
  readonly rss: number
  /** VmHWM: the peak of VmRSS. */
  readonly hwm: number
  /** Pss: resident pages, shared ones counted in shares. */
  readonly pss: number
}

/** A process's resident memory in bytes; zeros when it is gone. */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  const [status, rollup] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''), readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '')])
  return { rss: kbField(status, 'VmRSS'), hwm: kbField(status, 'VmHWM'), pss: kbField(rollup, 'Pss') }
}

export async function sampleProcess(pid: number): Promise<ProcSample | undefined> {
  try {
    const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')])
    const rest = stat.split(') ').pop()!.split(' ')
    const userTicks = Number(rest[11])
    const systemTicks = Number(rest[12])
    return { cpuTicks: userTicks + systemTicks, userTicks, systemTicks, rssBytes: kbField(status, 'VmRSS'), maxRssBytes: kbField(status, 'VmHWM'), at: Date.now() }
  } catch {
    return undefined
  }
}

/** Direct children of a process, from /proc/<pid>/task/<tid>/children. */
async function childrenOf(pid: number): Promise<number[]> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[])
  const lists = await Promise.all(tids.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')))
  return lists.flatMap((l) => l.trim().split(/\s+/).filter(Boolean).map(Number))
}

/**
 * A process and everything below it, summed: a task is its runner plus the
 * engine host it starts. Undefined when the process itself is gone.
 */
export async function sampleProcessTree(pid: number): Promise<ProcSample | undefined> {
  const root = await sampleProcess(pid)
  if (!root) return undefined
  const samples = [root]
  const pending = await childrenOf(pid)
  while (pending.length > 0) {
    const child = pending.pop()!
    const sample = await sampleProcess(child)
    if (!sample) continue
    samples.push(sample)
    pending.push(...(await childrenOf(child)))
  }
  const sum = (key: 'cpuTicks' | 'userTicks' | 'systemTicks' | 'rssBytes' | 'maxRssBytes') => samples.reduce((n, x) => n + x[key], 0)
  return { cpuTicks: sum('cpuTicks'), userTicks: sum('userTicks'), systemTicks: sum('systemTicks'), rssBytes: sum('rssBytes'), maxRssBytes: sum('maxRssBytes'), at: root.at }
}

/** CPU use between two samples, as a percentage of one core. */
export function cpuPercent(before: ProcSample, after: ProcSample): { total: number; user: number; system: number } {
  const seconds = Math.max((after.at - before.at) / 1000, 0.001)
  const pct = (ticks: number) => (ticks / CLOCK_TICKS / seconds) * 100
  return {
    total: pct(after.cpuTicks - before.cpuTicks),
    user: pct(after.userTicks - before.userTicks),
    system: pct(after.systemTicks - before.systemTicks),
  }
}

/** MHz of one core, the unit Nomad measures CPU in (total_ticks). */
export function coreMhz(): number {
  return os.cpus()[0]?.speed || 1000
}
