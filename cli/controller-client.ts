// leanctl's client of the controller's HTTP API, for the vm and image
// commands: JSON in and out, and each refusal turned into leanctl's own
// errors (an invalid document exits 2 naming the field, like `apply`).
import { SpecError } from '../jobs/app-spec.ts'
import { ConflictError, ControllerError, NotFoundError } from './errors.ts'

export type Fetch = typeof fetch

export interface Answer {
  readonly status: number
  /** The parsed JSON body; undefined when there is none. */
  readonly body: unknown
}

export interface CallOptions {
  /** Sent as JSON. */
  readonly json?: unknown
  /** Sent as is (a file's bytes or stream). */
  readonly raw?: RequestInit['body']
  readonly headers?: Record<string, string>
  /** Statuses that are answers, not errors (HEAD's 404). */
  readonly accept?: readonly number[]
}

interface Refusal {
  readonly code?: string
  readonly message?: string
  readonly field?: string
  readonly reason?: string
}

export class ControllerClient {
  /** `token`: the operator's Consul token (CONSUL_HTTP_TOKEN); the controller writes desired state with it. */
  constructor(
    readonly addr: string,
    private readonly fetchFn: Fetch = fetch,
    private readonly token?: string,
  ) {}

  async call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    let res: Response
    try {
      res = await this.fetchFn(`${this.addr}${path}`, {
        method,
        headers: {
          ...(options.json !== undefined && { 'content-type': 'application/json' }),
          ...(options.raw !== undefined && { 'content-type': 'application/octet-stream' }),
          ...(this.token && { 'x-consul-token': this.token }),
          ...options.headers,
        },
        ...(options.json !== undefined && { body: JSON.stringify(options.json) }),
        // A stream body needs half duplex.
        ...(options.raw !== undefined && { body: options.raw, duplex: 'half' }),
      } as RequestInit)
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message
      throw new ControllerError(
        `cannot reach the controller at ${this.addr} (LEAN_CONTROLLER_ADDR): ${cause}`,
      )
    }
    const text = await res.text()
    let body: unknown
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      body = text
    }
    if (res.ok || options.accept?.includes(res.status)) return { status: res.status, body }
    throw refusal(
      method,
      path,
      res.status,
      (typeof body === 'object' && body !== null ? body : { message: text }) as Refusal,
    )
  }
}

function refusal(method: string, path: string, status: number, body: Refusal): Error {
  const message = body.message ?? `${status}`
  if (body.code === 'LEAN_ERR_SPEC_INVALID' && body.field !== undefined) return new SpecError(body.field, body.reason ?? message)
  // The token is the operator's: name the variable it came from.
  if (body.code === 'LEAN_ERR_TOKEN_REQUIRED')
    return new ControllerError(`${method} ${path} changes desired state and needs a Consul token: set CONSUL_HTTP_TOKEN (cloud.env has the operator's)`)
  if (body.code === 'LEAN_ERR_TOKEN_REFUSED')
    return new ControllerError(`${message.replace('the token sent in X-Consul-Token', 'the token in CONSUL_HTTP_TOKEN')} (${method} ${path})`)
  if (status === 404) return new NotFoundError(message)
  if (status === 409 || status === 412) return new ConflictError(message)
  return new ControllerError(
    `the controller refused ${method} ${path}: ${status} ${body.code ?? ''} ${message}`.replace(/ +/g, ' '),
  )
}
