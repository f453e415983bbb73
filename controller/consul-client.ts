// One way to make a client of the `consul` package: address and token from
// the controller config (the package itself ignores CONSUL_HTTP_ADDR and
// CONSUL_HTTP_TOKEN), and every request counted.
import { EventEmitter } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import Consul from 'consul'
import { trustedCa } from './ca-trust.ts'
import { countUpstreamRequest } from './upstream-requests.ts'

interface PapiRequest {
  readonly opts: { readonly path?: string; readonly query?: Record<string, unknown> }
}

/**
 * A connection pool for many short-lived clients (one per caller's token):
 * without it, the package makes a keep-alive agent per client, and every
 * client would leave its sockets open until Consul refuses more.
 */
export function sharedConsulAgent(addr: string): http.Agent {
  const options = { keepAlive: true, maxSockets: 64 }
  return addr.startsWith('https:') ? new https.Agent(options) : new http.Agent(options)
}

/** The bound of one non-blocking request to Consul. */
export const REQUEST_TIMEOUT_MS = 30_000

export function createConsul(addr: string, token?: string, agent?: http.Agent): Consul {
  // The package makes its own https.Agent unless given one; papi hands `ca` to each request (the CAs of CONSUL_CACERT, see ca-trust.ts).
  const ca = trustedCa()
  const consul = new Consul({
    baseUrl: `${addr}/v1`,
    // Every request ends: a write or read that a server never answers (a leader
    // lost mid-request) fails after this and is retried, instead of holding its
    // reconcile forever. Blocking queries set their own, longer one.
    timeout: REQUEST_TIMEOUT_MS,
    ...(token && { defaults: { token } }),
    ...(ca && { ca }),
    ...(agent && { agent }),
  } as ConstructorParameters<typeof Consul>[0])
  // papi (the package's HTTP layer) runs 'onRequest' extensions before each request is sent.
  ;(
    consul as unknown as { _ext(event: string, fn: (req: PapiRequest, next: () => void) => void): void }
  )._ext('onRequest', (req, next) => {
    const index = req.opts.query?.index
    countUpstreamRequest('consul', `${req.opts.path ?? ''}?${index ? `index=${String(index)}` : ''}`)
    next()
  })
  return consul
}

/**
 * A request context for the package: with it, the package resolves to the
 * raw response too (for X-Consul-Index), and aborts the request when the
 * context emits 'cancel'.
 */
export class QueryContext extends EventEmitter {
  readonly includeResponse = true

  /** Cancels the request when `signal` aborts; call the returned function once the request is done. */
  follow(signal: AbortSignal | undefined): () => void {
    const cancel = () => this.emit('cancel')
    signal?.addEventListener('abort', cancel, { once: true })
    return () => signal?.removeEventListener('abort', cancel)
  }
}
