// Nomad jobs that run a component under the wasm driver, and the probes the
// driver tests need: allocations, their ports, task events, task processes.
import { readdir, readFile } from 'node:fs/promises'
import { waitFor } from '../../infra/cloud/wait.ts'
import { nomad } from './nomad-http.ts'
import { httpService, serviceJob } from './nomad-job.ts'


export interface Alloc {
  ID: string
  ClientStatus: string
  DesiredStatus: string
  TaskStates?: Record<string, { State: string; Failed: boolean; Events: Array<{ Type: string; DisplayMessage: string; Message: string; DriverError: string }> }>
  AllocatedResources?: { Shared?: { Ports?: Array<{ Label: string; Value: number; HostIP: string }> } }
}

export function wasmJob(id: string, component: { readonly file: string; readonly sha256: string }, options: { count?: number; instances?: number; env?: Record<string, string>; config?: Record<string, unknown> } = {}) {
  return serviceJob(id, {
    Name: 'web',
    Count: options.count ?? 1,
    Networks: [{ DynamicPorts: [{ Label: 'http' }] }],
    // Fail fast: the tests want the first outcome, not Nomad's retries.
    RestartPolicy: { Attempts: 0, Mode: 'fail' },
    ReschedulePolicy: { Attempts: 0, Unlimited: false },
    Services: [httpService(id)],
    Tasks: [
      {
        Name: 'app',
        Driver: 'wasm',
        Config: { component: component.file, sha256: component.sha256, port: 'http', instances: options.instances ?? 2, env: options.env ?? {}, ...options.config },
        Resources: { CPU: 200, MemoryMB: 256 },
        KillTimeout: 5e9,
      },
    ],
  })
}

export async function allocations(addr: string, jobId: string): Promise<Alloc[]> {
  const stubs = await nomad<Array<{ ID: string }>>(addr, 'GET', `/v1/job/${jobId}/allocations`)
  return Promise.all(stubs.map((s) => nomad<Alloc>(addr, 'GET', `/v1/allocation/${s.ID}`)))
}

export function waitForAllocs(addr: string, jobId: string, count: number, status: 'running' | 'failed', timeoutMs = 90_000): Promise<Alloc[]> {
  return waitFor(
    async () => {
      const allocs = await allocations(addr, jobId)
      return allocs.length >= count && allocs.every((a) => a.ClientStatus === status) ? allocs : false
    },
    { timeoutMs, what: `${count} allocation(s) of ${jobId} to be ${status}`, intervalMs: 250 },
  )
}

export function allocAddress(alloc: Alloc): string {
  const port = alloc.AllocatedResources?.Shared?.Ports?.find((p) => p.Label === 'http')
  if (!port) throw new Error(`allocation ${alloc.ID} has no http port`)
  return `http://${port.HostIP}:${port.Value}`
}

export function taskEventText(alloc: Alloc): string {
  return (alloc.TaskStates?.app?.Events ?? []).map((e) => `${e.Type}: ${e.DisplayMessage} ${e.DriverError}`).join('\n')
}

/**
 * Waits until the allocation's task events match: events the driver emits
 * reach the allocation asynchronously, after its status may already show.
 */
export function waitForTaskEvent(addr: string, allocId: string, pattern: RegExp, timeoutMs = 90_000): Promise<string> {
  return waitFor(
    async () => {
      const text = taskEventText(await nomad<Alloc>(addr, 'GET', `/v1/allocation/${allocId}`))
      return pattern.test(text) ? text : false
    },
    { timeoutMs, what: `a task event of allocation ${allocId} matching ${pattern}`, intervalMs: 200 },
  )
}

/** Live processes of the wasm driver's plugin installed in `driverDir`. */
export async function pluginPids(driverDir: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes(`${driverDir}/plugin.mjs`)) {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
      if (stat && !/\) [ZX] /.test(stat)) pids.push(Number(entry))
    }
  }
  return pids
}

/** Live task processes (wasmtime hosts), optionally of one allocation. */
export async function taskProcessPids(allocId = ''): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes('wasm-host.json') && cmdline.includes(allocId)) {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
      if (stat && !/\) [ZX] /.test(stat)) pids.push(Number(entry))
    }
  }
  return pids.sort((a, b) => a - b)
}

export async function stopJob(addr: string, jobId: string): Promise<void> {
  await nomad(addr, 'DELETE', `/v1/job/${jobId}?purge=true`)
}
