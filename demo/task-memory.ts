// What the demo's tasks weigh: sends each instance some traffic (a PDF per
// PDF instance, a health check per email worker), then sums the RSS Nomad
// reports for every running task of the apps (the driver's TaskStats, from /proc).
import { waitFor } from '../infra/cloud/wait.ts'

interface HealthEntry {
  readonly Service: { readonly Address: string; readonly Port: number }
  readonly Node: { readonly Address: string }
}

interface Allocation {
  readonly ID: string
  readonly ClientStatus: string
}

interface AllocStats {
  readonly ResourceUsage?: { readonly MemoryStats?: { readonly RSS?: number } }
}

export interface AppMemory {
  readonly app: string
  readonly tasks: number
  readonly rssBytes: number
}

/** The cloud's variables (cloud.env) read here: CONSUL_HTTP_ADDR, NOMAD_ADDR and, when set, their ACL tokens. */
type CloudEnv = Readonly<Record<string, string | undefined>>

/** Consul's ACL token header when CONSUL_HTTP_TOKEN is set; none otherwise. */
export function consulHeaders(env: CloudEnv): Record<string, string> {
  return env.CONSUL_HTTP_TOKEN ? { 'x-consul-token': env.CONSUL_HTTP_TOKEN } : {}
}

function nomadHeaders(env: CloudEnv): Record<string, string> {
  return env.NOMAD_TOKEN ? { 'x-nomad-token': env.NOMAD_TOKEN } : {}
}

/** A GET of Consul's or Nomad's HTTP API; `headers` carries the ACL token. */
async function json<T>(url: string, headers: Record<string, string>): Promise<T> {
  const res = await fetch(url, { headers })
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

function passingInstances(env: CloudEnv, service: string): Promise<HealthEntry[]> {
  return json<HealthEntry[]>(`${env.CONSUL_HTTP_ADDR}/v1/health/service/${service}?passing=true`, consulHeaders(env))
}

/** Waits until `count` instances of `service` pass their Consul checks (they pass a few seconds after their allocations run). */
export async function waitPassing(env: CloudEnv, service: string, count: number): Promise<void> {
  await waitFor(async () => (await passingInstances(env, service)).length >= count, {
    timeoutMs: 120_000,
    intervalMs: 500,
    what: `${count} passing ${service} instances in Consul`,
  })
}

/** Calls every passing instance of `service` `times` times with `request`. */
export async function exercise(env: CloudEnv, service: string, times: number, request: { path: string; init?: RequestInit }): Promise<number> {
  const entries = await passingInstances(env, service)
  let ok = 0
  for (const entry of entries) {
    const address = entry.Service.Address || entry.Node.Address
    for (let i = 0; i < times; i++) {
      const res = await fetch(`http://${address}:${entry.Service.Port}${request.path}`, request.init).catch(() => undefined)
      if (res?.ok) ok += 1
      await res?.arrayBuffer()
    }
  }
  return ok
}

/** RSS of the running tasks of job `app`, as Nomad's client reports it. */
export async function appMemory(env: CloudEnv, app: string): Promise<AppMemory> {
  const headers = nomadHeaders(env)
  const allocs = (await json<Allocation[]>(`${env.NOMAD_ADDR}/v1/job/${encodeURIComponent(app)}/allocations?namespace=${encodeURIComponent(env.NOMAD_NAMESPACE ?? 'default')}`, headers)).filter((a) => a.ClientStatus === 'running')
  let rssBytes = 0
  for (const alloc of allocs) {
    const stats = await json<AllocStats>(`${env.NOMAD_ADDR}/v1/client/allocation/${alloc.ID}/stats`, headers)
    rssBytes += stats.ResourceUsage?.MemoryStats?.RSS ?? 0
  }
  return { app, tasks: allocs.length, rssBytes }
}

export function memoryLine(apps: readonly AppMemory[]): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`
  const total = apps.reduce((sum, a) => sum + a.rssBytes, 0)
  const tasks = apps.reduce((sum, a) => sum + a.tasks, 0)
  const parts = apps.map((a) => `${a.app} ${a.tasks} × ${mb(a.tasks ? a.rssBytes / a.tasks : 0)}`).join(', ')
  return `${tasks} tasks hold ${mb(total)} RSS together after serving traffic (${parts}; Nomad's task stats)`
}
