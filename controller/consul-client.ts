// One way to make a client of the `consul` package: address and token from
// the controller config (the package itself ignores CONSUL_HTTP_ADDR and
// CONSUL_HTTP_TOKEN), and every request counted.
import Consul from 'consul'
import { countUpstreamRequest } from './upstream-requests.ts'

interface PapiRequest {
  readonly opts: { readonly path?: string; readonly query?: Record<string, unknown> }
}

export function createConsul(addr: string, token?: string): Consul {
  const consul = new Consul({ baseUrl: `${addr}/v1`, ...(token && { defaults: { token } }) } as ConstructorParameters<typeof Consul>[0])
  // papi (the package's HTTP layer) runs 'onRequest' extensions before each request is sent.
  ;(consul as unknown as { _ext(event: string, fn: (req: PapiRequest, next: () => void) => void): void })._ext('onRequest', (req, next) => {
    const index = req.opts.query?.index
    countUpstreamRequest('consul', `${req.opts.path ?? ''}?${index ? `index=${String(index)}` : ''}`)
    next()
  })
  return consul
}
