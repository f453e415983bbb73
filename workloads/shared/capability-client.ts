// The guest side of the runner's capability API: plain `fetch` calls with
// the task's bearer token. Used by components; the Node twins use their own
// backends instead.

export class CapabilityError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'CapabilityError'
  }
}

export interface CapabilityClient {
  putObject(bucket: string, key: string, bytes: Uint8Array, contentType: string): Promise<void>
  /** Stores the object and answers a time-limited GET link to it, in one call. */
  putObjectAndLink(bucket: string, key: string, bytes: Uint8Array, contentType: string, seconds: number): Promise<string>
  deleteObject(bucket: string, key: string): Promise<void>
  objectExists(bucket: string, key: string): Promise<boolean>
  presign(bucket: string, key: string, seconds: number): Promise<string>
  logRequest(row: Record<string, unknown>): Promise<void>
  /** A call tried now and, if it fails, kept in the outbox and retried by the host; see task-driver/capabilities/outbox.ts. */
  submit(service: string, path: string, body: unknown, log?: { requestId: string; statusOnDelivery: string }): Promise<SubmitResult>
  /** With `idempotency_key`, one message per key and recipient: a repeat answers the first one's id, `duplicate: true`. */
  sendMail(message: Record<string, unknown>): Promise<{ messageId: string; duplicate: boolean }>
}

export type SubmitResult = { delivered: true; body: unknown } | { delivered: false; final: boolean; reason: string }

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/')

/** `env` reads the guest's environment, where the runner puts the API's URL and token. */
export function capabilityClient(env: (name: string) => string | undefined): CapabilityClient {
  const base = env('LEAN_CAPABILITIES_URL')
  const token = env('LEAN_CAPABILITY_TOKEN')
  if (!base || !token) throw new Error('LEAN_CAPABILITIES_URL and LEAN_CAPABILITY_TOKEN are not set: not running under the wasm driver?')

  async function call(route: string, init: RequestInit = {}, ok: number[] = [200, 201, 204]): Promise<Response> {
    const res = await fetch(`${base}${route}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } })
    if (ok.includes(res.status)) return res
    const text = await res.text()
    let detail: { error?: string; code?: string } = {}
    try {
      detail = JSON.parse(text) as typeof detail
    } catch {
      detail = { error: text }
    }
    throw new CapabilityError(res.status, detail.code ?? 'LEAN_ERR_CAPABILITY_BACKEND', detail.error ?? `capability ${route} answered ${res.status}`)
  }
  const json = { 'content-type': 'application/json' }

  return {
    async putObject(bucket, key, bytes, contentType) {
      await call(`/blob/${path(bucket, key)}`, { method: 'PUT', body: bytes, headers: { 'content-type': contentType } })
    },
    async putObjectAndLink(bucket, key, bytes, contentType, seconds) {
      const res = await call(`/blob/${path(bucket, key)}?presign=${seconds}`, { method: 'PUT', body: bytes, headers: { 'content-type': contentType } })
      return ((await res.json()) as { url: string }).url
    },
    async deleteObject(bucket, key) {
      await call(`/blob/${path(bucket, key)}`, { method: 'DELETE' })
    },
    async objectExists(bucket, key) {
      const res = await call(`/blob/${path(bucket, key)}`, { method: 'HEAD' }, [200, 404])
      return res.status === 200
    },
    async presign(bucket, key, seconds) {
      const res = await call(`/presign/${path(bucket, key)}?expires=${seconds}`, { method: 'POST' })
      return ((await res.json()) as { url: string }).url
    },
    async logRequest(row) {
      await call('/request-log', { method: 'POST', body: JSON.stringify(row), headers: json })
    },
    async submit(service, route, body, log) {
      const headers: Record<string, string> = { ...json, ...(log && { 'x-lean-request-id': log.requestId, 'x-lean-status-on-delivery': log.statusOnDelivery }) }
      const res = await call(`/outbox/${encodeURIComponent(service)}${route}`, { method: 'POST', body: JSON.stringify(body), headers }, [200, 202, 422])
      const answer = (await res.json()) as Record<string, unknown>
      if (res.status === 200) return { delivered: true, body: answer }
      return { delivered: false, final: res.status === 422, reason: String(answer.reason ?? '') }
    },
    async sendMail(message) {
      const res = await call('/mail', { method: 'POST', body: JSON.stringify(message), headers: json })
      const answer = (await res.json()) as { message_id: string; duplicate?: boolean }
      return { messageId: answer.message_id, duplicate: answer.duplicate === true }
    },
  }
}
