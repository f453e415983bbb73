// `leanctl vm …`: the VM API of the controller. Writes go through it to
// Consul KV with check-and-set; reads come back with what Nomad knows (state,
// ports, console), which is why these commands talk to the controller and not
// to Consul directly.
import { stringify } from 'yaml'
import type { VmView } from '../../controller/vm-api.ts'
import { SpecError, parseAppSpec } from '../../jobs/app-spec.ts'
import type { ControllerClient } from '../controller-client.ts'
import type { Io } from '../context.ts'
import { loadDocument } from '../documents.ts'
import { formatVmTable, formatVmView } from '../vm-format.ts'

export interface ApiContext {
  readonly controller: ControllerClient
  readonly io: Io
}

const path = (vm: string) => `/v1/vms/${encodeURIComponent(vm)}`

export function printAs(io: Io, value: unknown, output: 'json' | 'yaml'): void {
  io.out(output === 'yaml' ? stringify(value) : `${JSON.stringify(value, null, 2)}\n`)
}

export async function vmList(ctx: ApiContext, output: 'table' | 'json' | 'yaml'): Promise<number> {
  const { vms } = (await ctx.controller.call('GET', '/v1/vms')).body as { vms: VmView[] }
  if (output !== 'table') printAs(ctx.io, vms, output)
  else if (vms.length === 0) ctx.io.err('no vms\n')
  else ctx.io.out(formatVmTable(vms))
  return 0
}

export async function vmGet(ctx: ApiContext, vm: string, output: 'text' | 'json' | 'yaml'): Promise<number> {
  const view = (await ctx.controller.call('GET', path(vm))).body as VmView
  if (output === 'text') ctx.io.out(formatVmView(view))
  else printAs(ctx.io, view, output)
  return 0
}

/** Validates locally with the controller's own validator (kind may be left out), then PUTs. */
export async function vmApply(ctx: ApiContext, file: string, vm: string): Promise<number> {
  const { value } = await loadDocument(file, () => ctx.io.readStdin())
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SpecError('$', 'expected an object (the vm document)')
  const doc = value as Record<string, unknown>
  if (doc.kind !== undefined && doc.kind !== 'vm')
    throw new SpecError(
      'kind',
      `expected "vm" or no kind, got ${JSON.stringify(doc.kind)} (other kinds: leanctl apply)`,
    )
  const body = { kind: 'vm', ...doc }
  parseAppSpec(vm, JSON.stringify(body))
  const answer = await ctx.controller.call('PUT', path(vm), { json: body })
  const { specIndex } = answer.body as { specIndex: number }
  ctx.io.out(`vm/${vm} ${answer.status === 201 ? 'created' : 'configured'} (specIndex ${specIndex})\n`)
  return 0
}

export async function vmSetState(ctx: ApiContext, vm: string, action: 'start' | 'stop'): Promise<number> {
  const { changed, state } = (await ctx.controller.call('POST', `${path(vm)}/${action}`)).body as {
    changed: boolean
    state: string
  }
  ctx.io.out(
    `vm/${vm} ${changed ? `${state === 'running' ? 'started' : 'stopped'} (state ${state})` : `unchanged (state ${state} already)`}\n`,
  )
  return 0
}

export async function vmDelete(ctx: ApiContext, vm: string): Promise<number> {
  await ctx.controller.call('DELETE', path(vm))
  ctx.io.out(`vm/${vm} deleted (the controller stops its VMs)\n`)
  return 0
}
