// Errors of the controller's HTTP API: each has a stable code and one HTTP
// status, and goes out as `{ code, message }` (plus `field` for a document
// problem). Failures of Consul, Nomad or S3 are named as such (502).
import type { FastifyInstance } from 'fastify'
import type { ComponentInspectCode } from '../ground/component-inspect.ts'
import { SpecError } from '../jobs/app-spec.ts'

export type ApiErrorCode =
  | 'LEAN_ERR_SPEC_INVALID'
  | 'LEAN_ERR_APP_NOT_FOUND'
  | 'LEAN_ERR_APP_KIND'
  | 'LEAN_ERR_APP_CONFLICT'
  | 'LEAN_ERR_APP_PRECONDITION'
  | 'LEAN_ERR_API_REQUEST'
  | 'LEAN_ERR_API_BACKEND'
  | 'LEAN_ERR_API_INTERNAL'
  | 'LEAN_ERR_IMAGES_UNAVAILABLE'
  | 'LEAN_ERR_IMAGE_DIGEST'
  | 'LEAN_ERR_IMAGE_MANIFEST'
  | 'LEAN_ERR_IMAGE_FILE_MISSING'
  | 'LEAN_ERR_IMAGE_REFUSED'
  | 'LEAN_ERR_IMAGE_TOO_LARGE'
  | 'LEAN_ERR_COMPONENTS_UNAVAILABLE'
  | 'LEAN_ERR_COMPONENT_DIGEST'
  | 'LEAN_ERR_COMPONENT_TOO_LARGE'
  | ComponentInspectCode
  | 'LEAN_ERR_TOKEN_REQUIRED'
  | 'LEAN_ERR_TOKEN_REFUSED'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly field?: string,
    /** With `field`: why it is refused, without the field's name (what clients show beside their own). */
    readonly reason?: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  body() {
    return {
      code: this.code,
      message: this.message,
      ...(this.field !== undefined && { field: this.field }),
      ...(this.reason !== undefined && { reason: this.reason }),
    }
  }
}

export const notFound = (message: string) => new ApiError(404, 'LEAN_ERR_APP_NOT_FOUND', message)
export const badRequest = (message: string) => new ApiError(400, 'LEAN_ERR_API_REQUEST', message)

/** A document problem: 400 naming the field, as parseAppSpec names it. */
export function specInvalid(err: SpecError): ApiError {
  return new ApiError(400, 'LEAN_ERR_SPEC_INVALID', err.message, err.field, err.reason)
}

/** Runs one call to a backend; its failure becomes a 502 that names the backend. */
export async function backend<T>(name: 'Consul' | 'Nomad' | 'S3', call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (err instanceof ApiError) throw err
    throw new ApiError(
      502,
      'LEAN_ERR_API_BACKEND',
      `${name} failed: ${(err as Error)?.message ?? String(err)}`,
    )
  }
}

/** `If-Match: <specIndex>` (quotes allowed, as for an ETag); undefined when absent. */
export function ifMatch(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined
  const raw = (Array.isArray(header) ? header.join(',') : header).trim().replace(/^"(.*)"$/, '$1')
  if (!/^\d{1,15}$/.test(raw))
    throw badRequest(
      `If-Match: expected the specIndex the change is based on (a whole number; 0: the app must not exist yet), got ${JSON.stringify(raw).slice(0, 40)}`,
    )
  return Number(raw)
}

/** Every error as `{ code, message }`; fastify's own (bad JSON, wrong content type, too large) keep their 4xx status. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send(err.body())
    if (err instanceof SpecError) return reply.code(400).send(specInvalid(err).body())
    const status = (err as { statusCode?: number }).statusCode
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ code: 'LEAN_ERR_API_REQUEST', message: (err as Error).message })
    }
    req.log.error({ err }, 'request failed')
    return reply
      .code(500)
      .send({ code: 'LEAN_ERR_API_INTERNAL', message: (err as Error)?.message ?? String(err) })
  })
}
