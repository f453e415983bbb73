// Consul's health API through the `consul` package: the instances of one
// service with their checks (what the healthy count reads), and the checks of
// every service instance Nomad registered, as a blocking query (what the
// health watch waits on).
import type Consul from 'consul'
import { createConsul, QueryContext } from './consul-client.ts'
import type { QueryOptions } from './consul-kv.ts'
import type { CheckState, ServiceInstance } from './service-health.ts'

type RawCheck = { Node: string; CheckID: string; Name: string; Status: string; Output?: string; Notes?: string; ServiceID?: string; ServiceName?: string }
type RawEntry = { Service: { ID: string }; Checks: RawCheck[] | null }

/** A check of a service instance Nomad registered. */
export interface InstanceCheck extends CheckState {
  /** Node and check ID: unique in the datacenter. */
  readonly key: string
  readonly node: string
  /** Empty for a check of the node itself (serfHealth, node maintenance). */
  readonly serviceId: string
  readonly serviceName: string
}

const toCheck = (c: RawCheck): CheckState => ({ name: c.Name, status: c.Status, output: c.Output ?? '', notes: c.Notes ?? '' })

/** Nomad's service IDs start so, and a node's own checks have none (a Consul filter expression): an instance's health counts its node's. */
const NOMAD_INSTANCES = 'ServiceID matches "^_nomad-task-" or ServiceID == ""'

export class ConsulHealth {
  readonly #consul: Consul

  constructor(addr: string, token?: string) {
    this.#consul = createConsul(addr, token)
  }

  /** Every registered instance of `service`, passing or not, with its checks and its node's. */
  async instances(service: string): Promise<ServiceInstance[]> {
    const entries = (await this.#consul.health.service({ service } as never)) as unknown as RawEntry[] | undefined
    return (entries ?? []).map((e) => ({ id: e.Service.ID, checks: (e.Checks ?? []).map(toCheck) }))
  }

  /** The checks of Nomad's service instances; with an index, a blocking query that returns when any check changes after it. */
  async nomadChecks(options: QueryOptions = {}): Promise<{ checks: InstanceCheck[]; index: number }> {
    options.signal?.throwIfAborted()
    const ctx = new QueryContext()
    const unfollow = ctx.follow(options.signal)
    try {
      const [res, body] = (await this.#consul.health.state({
        state: 'any',
        filter: NOMAD_INSTANCES,
        ...(options.index !== undefined && { index: String(options.index), wait: options.wait ?? '5m', timeout: 6 * 60_000 }),
        ctx,
      } as never)) as unknown as [{ headers: Record<string, string> }, RawCheck[] | undefined]
      const checks = (body ?? []).map((c) => ({ ...toCheck(c), key: `${c.Node}/${c.CheckID}`, node: c.Node, serviceId: c.ServiceID ?? '', serviceName: c.ServiceName ?? '' }))
      return { checks, index: Number(res.headers['x-consul-index'] ?? 0) }
    } finally {
      unfollow()
    }
  }
}
