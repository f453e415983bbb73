// The few Nomad endpoints the controller uses: the generated client
// (generated/nomad, typed from the pinned Nomad api package) over a fetch
// transport that owns the address, the ACL token, the timeout and the errors.
// Errors carry the method, path, status and Nomad's own message.
import { NomadClient, type NomadTransport } from '../generated/nomad/client.ts'
import type {
  Allocation,
  AllocationListStub,
  Job,
  JobListStub,
  JobRegisterResponse,
  JobSummary,
  JobValidateResponse,
  Node,
  NodeListStub,
} from '../generated/nomad/types.ts'
import type { NomadJob } from '../jobs/nomad-job.ts'
import { countUpstreamRequest } from './upstream-requests.ts'

export type { JobSummary } from '../generated/nomad/types.ts'
/** What the controller reads of a registered job. */
export type NomadJobState = Job
export type NomadJobStub = JobListStub

export class NomadHttpError extends Error {
  readonly code = 'LEAN_ERR_NOMAD_HTTP' as const
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`Nomad ${method} ${path}: ${status} ${body.trim().slice(0, 300)}`)
    this.name = 'NomadHttpError'
  }
}

/**
 * Non-2xx answers throw NomadHttpError, except a GET's 404, which the client
 * reads as "absent". Every request names the namespace: jobs, allocations and
 * their ACL checks are per namespace (node and status endpoints ignore it).
 */
function fetchTransport(addr: string, token: string | undefined, namespace: string): NomadTransport {
  return {
    async request(method, path, query, body, signal) {
      const params = new URLSearchParams()
      for (const [key, value] of Object.entries(query))
        if (value !== undefined) params.set(key, String(value))
      const target = params.size > 0 ? `${path}?${params}` : path
      countUpstreamRequest('nomad', target)
      params.set('namespace', namespace)
      const res = await fetch(`${addr}${path}?${params}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token && { 'x-nomad-token': token }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: signal ?? AbortSignal.timeout(30_000),
      })
      const index = Number(res.headers.get('x-nomad-index') ?? 0)
      if (res.status === 404 && method === 'GET') {
        await res.body?.cancel()
        return { status: 404, body: undefined, index }
      }
      const text = await res.text()
      if (!res.ok) throw new NomadHttpError(method, target, res.status, text)
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined, index }
    },
  }
}

export class NomadApi {
  readonly #client: NomadClient
  readonly #addr: string
  readonly #token: string | undefined
  readonly #namespace: string

  /** `namespace`: where the jobs this client registers and reads live (NOMAD_NAMESPACE). */
  constructor(addr: string, token?: string, namespace = 'default') {
    this.#client = new NomadClient(fetchTransport(addr, token, namespace))
    this.#addr = addr
    this.#token = token
    this.#namespace = namespace
  }

  async job(id: string): Promise<NomadJobState | undefined> {
    return this.#client.getJob(id)
  }

  async summary(id: string): Promise<JobSummary | undefined> {
    return this.#client.getJobSummary(id)
  }

  /**
   * Registers with check-and-set: `modifyIndex` 0 means "must not exist yet",
   * otherwise the job's current JobModifyIndex. A concurrent writer makes it fail.
   */
  async register(job: NomadJob, modifyIndex: number): Promise<JobRegisterResponse> {
    return this.#client.registerJob({ Job: job, EnforceIndex: true, JobModifyIndex: modifyIndex })
  }

  /** Stops and purges; answers Nomad's index of the change. */
  async deregister(id: string): Promise<number> {
    const answer = await this.#client.deregisterJob(id, { purge: true })
    return answer?.JobModifyIndex || answer?.EvalCreateIndex || 0
  }

  async validate(job: NomadJob): Promise<JobValidateResponse> {
    return (await this.#client.validateJob({ Job: job })) ?? {}
  }

  /** Jobs (those whose ID starts with `prefix`), as a blocking query: returns when the list changes after `index` (or after `wait`). */
  async jobs(
    index: number,
    wait: string,
    signal?: AbortSignal,
    prefix?: string,
  ): Promise<{ jobs: NomadJobStub[]; index: number }> {
    const { value, index: next } = await this.#client.listJobs({ meta: true, index, wait, signal, prefix })
    return { jobs: value ?? [], index: next }
  }

  /** Every allocation, as a blocking query: returns when one changes after `index` (or after `wait`). */
  async allAllocations(
    index: number,
    wait: string,
    signal?: AbortSignal,
  ): Promise<{ allocations: AllocationListStub[]; index: number }> {
    const { value, index: next } = await this.#client.listAllocations({ index, wait, signal })
    return { allocations: value ?? [], index: next }
  }

  async allocations(id: string): Promise<AllocationListStub[]> {
    return (await this.#client.listJobAllocations(id)) ?? []
  }

  async allocation(id: string): Promise<Allocation | undefined> {
    return this.#client.getAllocation(id)
  }

  async node(id: string): Promise<Node | undefined> {
    return this.#client.getNode(id)
  }

  async nodes(): Promise<NodeListStub[]> {
    return (await this.#client.listNodes()) ?? []
  }

  /**
   * The last `bytes` of a task's stdout or stderr as text, read through the
   * server from the node that runs it (plain text, so not through the client).
   */
  async taskLogTail(
    allocId: string,
    task: string,
    type: 'stdout' | 'stderr',
    bytes: number,
  ): Promise<string> {
    const query = new URLSearchParams({ task, type, origin: 'end', offset: String(bytes), plain: 'true' })
    const target = `/v1/client/fs/logs/${encodeURIComponent(allocId)}?${query}`
    countUpstreamRequest('nomad', target)
    const res = await fetch(`${this.#addr}${target}&namespace=${encodeURIComponent(this.#namespace)}`, {
      headers: { ...(this.#token && { 'x-nomad-token': this.#token }) },
      signal: AbortSignal.timeout(10_000),
    })
    const text = await res.text()
    if (!res.ok) throw new NomadHttpError('GET', target, res.status, text)
    return text
  }

  /** The leader's RPC address ("" while there is none). */
  async leader(): Promise<string> {
    return this.#client.leader()
  }
}
