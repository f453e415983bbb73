// What the kernel holds a process to, read from /proc and the cgroup file
// system, for checks (`virt:check`, the tests) rather than for libvirt's own
// word: its uid/gid, and the memory limit of its cgroup on v1 or v2.
import { readFile } from 'node:fs/promises'
import path from 'node:path'

export interface ProcessIds {
  readonly uid: number
  readonly gid: number
  readonly groups: readonly number[]
}

/** Real uid, gid and supplementary groups of a process; undefined once it is gone. */
export async function processIds(pid: number): Promise<ProcessIds | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1]
  const gid = /^Gid:\s+(\d+)/m.exec(status)?.[1]
  if (uid === undefined || gid === undefined) return undefined
  const groups = (/^Groups:([^\n]*)/m.exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number)
  return { uid: Number(uid), gid: Number(gid), groups }
}

export interface MemoryLimit {
  readonly version: 1 | 2
  /** The process's cgroup in the memory hierarchy, as /proc/<pid>/cgroup names it. */
  readonly cgroup: string
  /** The limit file that holds the lowest limit on the way up (the domain's, not the emulator thread group's). */
  readonly file?: string
  /** The lowest limit of the cgroup and its ancestors; undefined when none is set. */
  readonly bytes?: number
}

/** The cgroup of `pid` that carries memory: v1's `memory` line, else v2's `0::` (pure). */
export function memoryCgroupOf(procCgroup: string): { version: 1 | 2; cgroup: string } | undefined {
  const lines = procCgroup.split('\n')
  for (const l of lines) {
    const m = /^\d+:([^:]*):(.*)$/.exec(l)
    if (m && m[1]!.split(',').includes('memory')) return { version: 1, cgroup: m[2]! }
  }
  const unified = lines.find((l) => l.startsWith('0::'))
  return unified === undefined ? undefined : { version: 2, cgroup: unified.slice(3) }
}

const UNLIMITED_V1 = 2 ** 62 // v1 reports "no limit" as a page-rounded 2^63-1

/** The memory limit the kernel holds `pid` to (lowest on the way to the root), v1 or v2. */
export async function memoryLimitOf(pid: number, root = '/sys/fs/cgroup'): Promise<MemoryLimit | undefined> {
  const found = memoryCgroupOf(await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''))
  if (!found) return undefined
  const base = found.version === 1 ? path.join(root, 'memory') : root
  const name = found.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'
  let best: { file: string; bytes: number } | undefined
  for (let dir = found.cgroup; ; dir = path.posix.dirname(dir)) {
    const file = path.join(base, dir, name)
    const text = (await readFile(file, 'utf8').catch(() => 'max')).trim()
    const bytes = text === 'max' ? Infinity : Number(text)
    if (bytes < UNLIMITED_V1 && (best === undefined || bytes < best.bytes)) best = { file, bytes }
    if (dir === '/' || dir === '.' || dir === '') break
  }
  return { ...found, ...best }
}
