// The VM API: vm documents created, replaced, started, stopped and deleted
// through Consul KV with check-and-set (vm-store.ts), and read back with
// what Nomad says of their allocations (vm-runtime.ts).
//   PUT    /v1/vms/:name          body: the vm document (kind may be left out); If-Match: <specIndex>
//   GET    /v1/vms                every vm app: spec, status, allocations (no ports or console)
//   GET    /v1/vms/:name          one: spec, status, allocations with address, ports and console tail
//   POST   /v1/vms/:name/start    state: running (idempotent)
//   POST   /v1/vms/:name/stop     state: stopped (idempotent)
//   DELETE /v1/vms/:name          If-Match: <specIndex>
// Every call carries the caller's Consul token (X-Consul-Token): documents are
// read and written with it, and Nomad's view of a vm is shown only with a
// document the caller could read.
import type { FastifyInstance } from 'fastify'
import type { VmState } from '../jobs/vm.ts'
import { backend, ifMatch } from './api-errors.ts'
import { callerToken } from './caller-token.ts'
import {
  vmAllocations,
  vmAllocationSummaries,
  type VmAllocation,
  type VmAllocationDetail,
  type VmNomad,
} from './vm-runtime.ts'
import type { VmRecord, VmStore, VmWrite } from './vm-store.ts'

export interface VmView extends VmRecord {
  readonly allocations: readonly VmAllocation[] | readonly VmAllocationDetail[]
  /** Why allocations is empty when Nomad could not be read. */
  readonly runtimeError?: string
}

type Named = { Params: { name: string } }

const written = (w: VmWrite) => ({ name: w.name, specIndex: w.specIndex })

/** Nomad's answer, or none and the reason: the spec and status are worth showing without it. */
async function runtime<T>(read: () => Promise<T>, empty: T): Promise<{ value: T; error?: string }> {
  try {
    return { value: await backend('Nomad', read) }
  } catch (err) {
    return { value: empty, error: (err as Error).message }
  }
}

export function registerVmRoutes(app: FastifyInstance, deps: { vms: VmStore; nomad: VmNomad }): void {
  const { vms, nomad } = deps

  app.get('/v1/vms', async (req) => {
    const records = await vms.list(callerToken(req))
    const { value, error } = await runtime(
      () =>
        vmAllocationSummaries(
          nomad,
          records.map((r) => r.name),
        ),
      new Map<string, VmAllocation[]>(),
    )
    const views: VmView[] = records.map((r) => ({
      ...r,
      allocations: value.get(r.name) ?? [],
      ...(error && { runtimeError: error }),
    }))
    return { vms: views }
  })

  app.get<Named>('/v1/vms/:name', async (req) => {
    const record = await vms.get(req.params.name, callerToken(req))
    const { value, error } = await runtime(() => vmAllocations(nomad, record.name), [])
    const view: VmView = { ...record, allocations: value, ...(error && { runtimeError: error }) }
    return view
  })

  app.put<Named & { Body: unknown }>('/v1/vms/:name', async (req, reply) => {
    const result = await vms.put(
      req.params.name,
      req.body,
      callerToken(req),
      ifMatch(req.headers['if-match']),
    )
    return reply.code(result.created ? 201 : 200).send(written(result))
  })

  for (const [action, state] of [
    ['start', 'running'],
    ['stop', 'stopped'],
  ] as const satisfies ReadonlyArray<readonly [string, VmState]>) {
    app.post<Named>(`/v1/vms/:name/${action}`, async (req) => {
      const result = await vms.setState(
        req.params.name,
        state,
        callerToken(req),
        ifMatch(req.headers['if-match']),
      )
      return { ...written(result), state, changed: result.changed }
    })
  }

  app.delete<Named>('/v1/vms/:name', async (req, reply) => {
    await vms.remove(req.params.name, callerToken(req), ifMatch(req.headers['if-match']))
    return reply.code(204).send()
  })
}
