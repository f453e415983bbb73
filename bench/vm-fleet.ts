// Probes for bench:vms: one look at a fleet of VM apps (their allocations,
// ports, Consul checks), the memory of their QEMU processes, and the host's.
import { readFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { processMemory, type ProcessMemory } from '../ground/proc-stats.ts'
import type { CloudConfig } from '../infra/cloud/config.ts'
import { nomad } from '../test/harness/nomad-http.ts'
import { qemuPids, runningDomains } from '../test/harness/vm-job.ts'

export type Consul = <T>(method: string, path: string, body?: unknown) => Promise<T>

/** Consul's HTTP API at env.CONSUL_HTTP_ADDR (with CONSUL_HTTP_TOKEN when set). */
export function consulApi(env: Readonly<Record<string, string>>): Consul {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${env.CONSUL_HTTP_ADDR}${path}`, {
      method,
      headers: env.CONSUL_HTTP_TOKEN ? { 'x-consul-token': env.CONSUL_HTTP_TOKEN } : {},
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`Consul ${method} ${path} answered ${res.status}: ${text}`)
    return (text ? JSON.parse(text) : undefined) as T
  }
}

export interface Alloc {
  ID: string
  JobID: string
  NodeName?: string
  ClientStatus: string
  DesiredStatus: string
  TaskStates?: Record<
    string,
    { State: string; Restarts?: number; Events?: Array<{ Type: string; DisplayMessage: string }> }
  >
  AllocatedResources?: {
    Shared?: { Ports?: Array<{ Label: string; Value: number; HostIP: string }> }
    Tasks?: Record<string, { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } }>
  }
}

/** The CPU (MHz) and memory (MiB) the allocations' tasks reserve, as Nomad allocated them. */
export function reservedBy(allocs: readonly Alloc[]): { cpu: number; memoryMB: number } {
  const tasks = allocs.flatMap((a) => Object.values(a.AllocatedResources?.Tasks ?? {}))
  return {
    cpu: tasks.reduce((n, t) => n + t.Cpu.CpuShares, 0),
    memoryMB: tasks.reduce((n, t) => n + t.Memory.MemoryMB, 0),
  }
}

/** Seconds from declaring until each step was first seen; bootS is the driver's own create → READY. */
export interface Seen {
  placed?: number
  running?: number
  answering?: number
  passing?: number
  bootS?: number
}

export interface Fleet {
  readonly nomadAddr: string
  readonly consul: Consul
  /** Every job of the fleet is named `<tag>-…`. */
  readonly tag: string
}

export const eventsOf = (a: Alloc) => Object.values(a.TaskStates ?? {}).flatMap((t) => t.Events ?? [])

async function answers(a: Alloc): Promise<boolean> {
  const port = a.AllocatedResources?.Shared?.Ports?.find((p) => p.Label === 'http')
  if (!port) return false
  const res = await fetch(`http://${port.HostIP}:${port.Value}/`, {
    signal: AbortSignal.timeout(2000),
  }).catch(() => undefined)
  await res?.body?.cancel()
  return res?.status === 200
}

/** One look at the world: the fleet's allocations, their ports, Consul's passing checks. */
export async function observe(
  fleet: Fleet,
  apps: readonly string[],
  t0: number,
  seen: Map<string, Seen>,
): Promise<Alloc[]> {
  const filter = encodeURIComponent(`JobID contains "${fleet.tag}-"`)
  const [allocs, passing] = await Promise.all([
    nomad<Alloc[]>(fleet.nomadAddr, 'GET', `/v1/allocations?resources=true&filter=${filter}`),
    fleet.consul<Array<{ ServiceName: string }>>('GET', '/v1/health/state/passing'),
  ])
  const passingNames = new Set(passing.map((c) => c.ServiceName))
  const now = () => (performance.now() - t0) / 1000
  await Promise.all(
    apps.map(async (name) => {
      const s = seen.get(name)!
      const mine = allocs.filter((a) => a.JobID === name)
      if (mine.length > 0) s.placed ??= now()
      const live = mine.find((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run')
      if (!live) return
      s.running ??= now()
      const ready = eventsOf(live)
        .map((e) => /READY on its console in ([\d.]+) s/.exec(e.DisplayMessage))
        .findLast(Boolean)
      if (ready) s.bootS ??= Number(ready[1])
      if (s.answering === undefined && (await answers(live))) s.answering = now()
      if (passingNames.has(name)) s.passing ??= now()
    }),
  )
  return allocs
}

/** What each app that does not answer is doing, for a failure message. */
export function diagnose(apps: readonly string[], seen: Map<string, Seen>, allocs: Alloc[]): string[] {
  const missing = apps.filter((n) => seen.get(n)!.answering === undefined)
  return [
    `not answering (${missing.length}/${apps.length}):`,
    ...missing.slice(0, 20).map((name) => {
      const mine = allocs.filter((a) => a.JobID === name)
      const status = mine.length === 0 ? 'no allocation' : mine.map((a) => a.ClientStatus).join(', ')
      const last = mine
        .flatMap(eventsOf)
        .slice(-2)
        .map((e) => ` | ${e.Type}: ${e.DisplayMessage}`.slice(0, 160))
      return `  ${name}: ${status}${last.join('')}`
    }),
  ]
}

/** Failed or lost allocations and task restarts, if any. */
export function oddities(allocs: Alloc[]): string[] {
  const failed = allocs.filter((a) => a.ClientStatus === 'failed' || a.ClientStatus === 'lost')
  const restarts = allocs
    .flatMap((a) => Object.values(a.TaskStates ?? {}))
    .reduce((n, t) => n + (t.Restarts ?? 0), 0)
  if (failed.length === 0 && restarts === 0) return []
  return [
    `odd: ${failed.length} allocation(s) failed or lost, ${restarts} task restart(s)`,
    ...failed
      .slice(0, 5)
      .map((a) => `  ${a.JobID}: ${eventsOf(a).at(-1)?.DisplayMessage.slice(0, 200) ?? ''}`),
  ]
}

/** A QEMU's VmRSS, VmHWM and Pss (the QEMUs share libraries and image files, which Pss counts in shares). */
export interface QemuMemory extends ProcessMemory {
  readonly domain: string
}

/** The memory of each QEMU process of the apps' domains (named `lc-<alloc>-<app>` by the driver). */
export async function qemuMemory(config: CloudConfig, apps: readonly string[]): Promise<QemuMemory[]> {
  const domains = (await runningDomains(config)).filter((d) => apps.some((n) => d.endsWith(`-${n}`)))
  const out: QemuMemory[] = []
  for (const domain of domains) {
    for (const pid of await qemuPids(domain)) out.push({ domain, ...(await processMemory(pid)) })
  }
  return out
}

const kib = (text: string, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024

export const memAvailable = async () => kib(await readFile('/proc/meminfo', 'utf8'), 'MemAvailable')

export const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * xs.length) - 1)]!
