// Counts every request the controller makes to Consul and Nomad, split into
// blocking queries (the watches that are meant to stay open) and the rest, so
// an idle controller can be shown to make no requests beyond its watches.
import { Counter } from './metrics.ts'

export type Upstream = 'consul' | 'nomad'

export const upstreamRequests = new Counter('lean_controller_upstream_requests_total', 'Requests made to Consul and Nomad, by target and whether they were blocking queries.')

/** A request is a blocking query when it carries an `index` parameter. */
export function countUpstreamRequest(target: Upstream, pathAndQuery: string): void {
  const blocking = /[?&]index=[1-9]/.test(pathAndQuery) ? 'true' : 'false'
  upstreamRequests.inc({ target, blocking })
}
