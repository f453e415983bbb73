// Reads and writes through the controller's HTTP API act with the caller's own
// Consul token, never the controller's: Consul itself decides whether the
// caller may read desired state (documents, status) or change it, and a
// caller sees nothing its token does not grant.
import type { FastifyRequest } from 'fastify'
import { ApiError, backend } from './api-errors.ts'
import type { ConsulKv } from './consul-kv.ts'

export const TOKEN_HEADER = 'x-consul-token'

/** The caller's token: X-Consul-Token (what Consul's CLI sends), or Authorization: Bearer. */
export function callerToken(req: FastifyRequest): string {
  const header = req.headers[TOKEN_HEADER]
  const direct = Array.isArray(header) ? header[0] : header
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
  const token = direct?.trim() || bearer
  if (!token)
    throw new ApiError(
      401,
      'LEAN_ERR_TOKEN_REQUIRED',
      "send your Consul token in X-Consul-Token (leanctl sends CONSUL_HTTP_TOKEN): the API reads and changes desired state with the caller's token",
    )
  return token
}

/** Whether a Consul client error is Consul refusing the token (403, or a transaction's "Permission denied"). */
export function isPermissionDenied(err: unknown): boolean {
  const failed = err as { statusCode?: number; response?: { statusCode?: number } }
  return (
    (failed.statusCode ?? failed.response?.statusCode) === 403 ||
    /Permission denied|ACL not found/i.test((err as Error)?.message ?? '')
  )
}

/**
 * Runs a call with the caller's token; Consul's refusal becomes 403 naming
 * what was refused (`what` starts with "reading" or "writing").
 */
export async function asCaller<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (err instanceof ApiError || !isPermissionDenied(err)) throw err
    const after = what.startsWith('reading') ? '' : '; nothing was written'
    throw new ApiError(
      403,
      'LEAN_ERR_TOKEN_REFUSED',
      `Consul refused the token sent in X-Consul-Token for ${what} (${(err as Error).message.trim().slice(0, 120)})${after}`,
    )
  }
}

/**
 * Calls on `kv` (a client with the caller's token) for `what`: Consul's
 * refusal is a 403 naming it (asCaller), any other failure a 502.
 */
export function callsAs<K>(kv: K, what: string) {
  return <T>(call: (kv: K) => Promise<T>): Promise<T> =>
    backend('Consul', () => asCaller(what, () => call(kv)))
}

/** The key a write check aims at: never written (its check-and-set expects an index it cannot have). */
export const WRITE_CHECK_KEY = '.write-check'

/**
 * Whether the caller's token may write desired state, asked of Consul without
 * writing: a check-and-set on a key that does not exist, expecting index 1,
 * can only fail, and Consul checks the token before it looks at the index.
 */
export async function assertMayWrite(kv: Pick<ConsulKv, 'setIfIndex'>, appsPrefix: string): Promise<void> {
  await asCaller(`writing ${appsPrefix}`, () => kv.setIfIndex(appsPrefix + WRITE_CHECK_KEY, '', 1))
}

/** The key a read check aims at: never written, so Consul answers "not found" to a token that may read. */
export const READ_CHECK_KEY = '.read-check'

/**
 * Whether the caller's token may read desired state: Consul checks the token
 * before it looks the key up, so a refused token gets 403 and an allowed one
 * finds nothing.
 */
export async function assertMayRead(kv: Pick<ConsulKv, 'get'>, appsPrefix: string): Promise<void> {
  await asCaller(`reading ${appsPrefix}`, () => kv.get(appsPrefix + READ_CHECK_KEY))
}
