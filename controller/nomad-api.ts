// The few Nomad endpoints the controller uses, over fetch. Errors carry the
// method, path, status and Nomad's own message.
import type { NomadJob } from '../jobs/nomad-job.ts'

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

/** What the controller reads of a registered job. */
export interface NomadJobState {
  readonly ID: string
  readonly Stop: boolean
  readonly Status: string
  readonly Version: number
  readonly JobModifyIndex: number
  readonly ModifyIndex: number
  readonly Meta?: Record<string, string> | null
  readonly TaskGroups: ReadonlyArray<{ readonly Name: string; readonly Count: number }>
}

export interface NomadJobStub {
  readonly ID: string
  readonly Stop: boolean
  readonly ModifyIndex: number
  readonly Meta?: Record<string, string> | null
}

export interface JobSummary {
  readonly Summary: Record<string, { Running: number; Starting: number; Failed: number; Queued: number; Lost: number }>
}

export class NomadApi {
  constructor(
    private readonly addr: string,
    private readonly token?: string,
  ) {}

  async #call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; value: T | undefined; index: number }> {
    const res = await fetch(`${this.addr}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(this.token && { 'x-nomad-token': this.token }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: signal ?? AbortSignal.timeout(30_000),
    })
    const index = Number(res.headers.get('x-nomad-index') ?? 0)
    if (res.status === 404 && method === 'GET') {
      await res.body?.cancel()
      return { status: 404, value: undefined, index }
    }
    const text = await res.text()
    if (!res.ok) throw new NomadHttpError(method, path, res.status, text)
    return { status: res.status, value: text ? (JSON.parse(text) as T) : undefined, index }
  }

  async job(id: string): Promise<NomadJobState | undefined> {
    return (await this.#call<NomadJobState>('GET', `/v1/job/${encodeURIComponent(id)}`)).value
  }

  async summary(id: string): Promise<JobSummary | undefined> {
    return (await this.#call<JobSummary>('GET', `/v1/job/${encodeURIComponent(id)}/summary`)).value
  }

  /**
   * Registers with check-and-set: `modifyIndex` 0 means "must not exist yet",
   * otherwise the job's current JobModifyIndex. A concurrent writer makes it fail.
   */
  async register(job: NomadJob, modifyIndex: number): Promise<void> {
    await this.#call('PUT', '/v1/jobs', { Job: job, EnforceIndex: true, JobModifyIndex: modifyIndex })
  }

  async deregister(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/job/${encodeURIComponent(id)}?purge=true`)
  }

  async validate(job: NomadJob): Promise<{ ValidationErrors?: string[] | null; Error?: string }> {
    return (await this.#call<{ ValidationErrors?: string[] | null; Error?: string }>('PUT', '/v1/validate/job', { Job: job })).value ?? {}
  }

  /** Jobs, as a blocking query: returns when the list changes after `index` (or after `wait`). */
  async jobs(index: number, wait: string, signal?: AbortSignal): Promise<{ jobs: NomadJobStub[]; index: number }> {
    const { value, index: next } = await this.#call<NomadJobStub[]>('GET', `/v1/jobs?meta=true&index=${index}&wait=${wait}`, undefined, signal)
    return { jobs: value ?? [], index: next }
  }
}
