// What Nomad says about a VM app's allocations: where each VM runs, with
// which accelerator, on which host address and ports, and the tail of its
// serial console (the `virt` driver writes it to the task's stdout). Read on
// request, never cached: the VM API answers with what Nomad knows now.
import type {
  Allocation,
  AllocationListStub,
  Node,
  NodeListStub,
  Port,
  PortMapping,
} from '../generated/nomad/types.ts'
import type { NomadApi } from './nomad-api.ts'

/** The NomadApi methods the VM API uses; tests pass stubs. */
export type VmNomad = Pick<
  NomadApi,
  'allocations' | 'allAllocations' | 'allocation' | 'node' | 'nodes' | 'taskLogTail'
>

/** The node attribute the `virt` driver fingerprints: `kvm` or `tcg`. */
export const ACCELERATOR_ATTRIBUTE = 'driver.virt.accelerator'
/** Bytes of the console read from its end, and lines of it shown. */
export const CONSOLE_BYTES = 4096
export const CONSOLE_LINES = 20

export interface VmAllocation {
  readonly id: string
  /** Nomad's client status: pending, running, complete, failed, lost. */
  readonly clientStatus: string
  /** What Nomad wants of it: run or stop. */
  readonly desiredStatus: string
  /** The VM task's state: pending, running, dead; null before the node reports it. */
  readonly taskState: string | null
  /** The task's latest event ("Started", "Failed Validation: …", …). */
  readonly lastEvent: string | null
  readonly node: string | null
  /** The node's `driver.virt.accelerator`, null when the node does not report one. */
  readonly accelerator: string | null
}

export interface VmAllocationDetail extends VmAllocation {
  /** The host address the VM's ports are forwarded from. */
  readonly address: string | null
  /** Port label → host:port. */
  readonly ports: Readonly<Record<string, string>>
  /** The last lines of the serial console; null before the task starts or when the node cannot be read. */
  readonly console: readonly string[] | null
}

/** The allocations that stand for the VMs now: wanted to run and not replaced, or still up while stopping. */
export function currentAllocations<T extends AllocationListStub>(stubs: readonly T[]): T[] {
  return stubs
    .filter(
      (a) =>
        (a.DesiredStatus === 'run' && !a.NextAllocation) ||
        a.ClientStatus === 'running' ||
        a.ClientStatus === 'pending',
    )
    .sort((a, b) => (a.Name ?? '').localeCompare(b.Name ?? '') || (b.CreateIndex ?? 0) - (a.CreateIndex ?? 0))
}

export function acceleratorOf(
  node: Pick<Node | NodeListStub, 'Attributes' | 'Drivers'> | undefined,
): string | null {
  return (
    node?.Attributes?.[ACCELERATOR_ATTRIBUTE] ??
    node?.Drivers?.virt?.Attributes?.[ACCELERATOR_ATTRIBUTE] ??
    null
  )
}

export function summary(
  stub: AllocationListStub,
  task: string,
  node: Pick<Node | NodeListStub, 'Attributes' | 'Drivers'> | undefined,
): VmAllocation {
  const state = stub.TaskStates?.[task]
  const last = state?.Events?.at(-1)
  const event = last ? [last.Type, last.DisplayMessage].filter(Boolean).join(': ') : null
  return {
    id: stub.ID ?? '',
    clientStatus: stub.ClientStatus ?? 'unknown',
    desiredStatus: stub.DesiredStatus ?? 'unknown',
    taskState: state?.State ?? null,
    lastEvent: event || null,
    node: stub.NodeName ?? null,
    accelerator: acceleratorOf(node),
  }
}

const hostPort = (ip: string, port: number) => `${ip.includes(':') ? `[${ip}]` : ip}:${port}`

/** Label → host:port and the address, from the allocation's group ports, else its networks (new and legacy forms). */
export function allocationPorts(alloc: Pick<Allocation, 'AllocatedResources' | 'Resources'>): {
  address: string | null
  ports: Record<string, string>
} {
  const mapped: PortMapping[] = alloc.AllocatedResources?.Shared?.Ports ?? []
  if (mapped.length > 0) {
    const ports = Object.fromEntries(
      mapped.map((p) => [p.Label ?? '', hostPort(p.HostIP ?? '', p.Value ?? 0)]),
    )
    return { address: mapped[0]!.HostIP || null, ports }
  }
  const networks = [
    ...(alloc.AllocatedResources?.Shared?.Networks ?? []),
    ...Object.values(alloc.AllocatedResources?.Tasks ?? {}).flatMap((t) => t.Networks ?? []),
    ...(alloc.Resources?.Networks ?? []),
  ]
  const ports: Record<string, string> = {}
  for (const n of networks) {
    const all: Port[] = [...(n.ReservedPorts ?? []), ...(n.DynamicPorts ?? [])]
    for (const p of all)
      if (p.Label && !(p.Label in ports)) ports[p.Label] = hostPort(n.IP ?? '', p.Value ?? 0)
  }
  return { address: networks.find((n) => n.IP)?.IP ?? null, ports }
}

/** The last `lines` lines of a log tail; a first line cut by the byte offset is dropped. */
export function consoleTail(text: string, bytes = CONSOLE_BYTES, lines = CONSOLE_LINES): string[] {
  const all = text.replace(/\r/g, '').split('\n')
  if (all.at(-1) === '') all.pop()
  if (Buffer.byteLength(text) >= bytes && all.length > 1) all.shift()
  return all.slice(-lines)
}

/** The VM app's current allocations in full: the job of a vm app, its task and group, share the app's name. */
export async function vmAllocations(nomad: VmNomad, name: string): Promise<VmAllocationDetail[]> {
  const stubs = currentAllocations(await nomad.allocations(name))
  const nodes = new Map<string, Promise<Node | undefined>>()
  const nodeOf = (id: string | undefined) => {
    if (!id) return Promise.resolve(undefined)
    if (!nodes.has(id)) nodes.set(id, nomad.node(id))
    return nodes.get(id)!
  }
  return Promise.all(
    stubs.map(async (stub) => {
      const started = stub.TaskStates?.[name]?.StartedAt
      const [alloc, node, log] = await Promise.all([
        nomad.allocation(stub.ID ?? ''),
        nodeOf(stub.NodeID),
        started
          ? nomad.taskLogTail(stub.ID ?? '', name, 'stdout', CONSOLE_BYTES).catch(() => undefined)
          : undefined,
      ])
      return {
        ...summary(stub, name, node),
        ...allocationPorts(alloc ?? {}),
        console: log === undefined ? null : consoleTail(log),
      }
    }),
  )
}

/** Every vm app's current allocations, from one listing of allocations and one of nodes (no ports or console). */
export async function vmAllocationSummaries(
  nomad: VmNomad,
  names: readonly string[],
): Promise<Map<string, VmAllocation[]>> {
  const wanted = new Set(names)
  const [{ allocations }, nodes] = await Promise.all([nomad.allAllocations(0, '1s'), nomad.nodes()])
  const nodeById = new Map(nodes.map((n) => [n.ID ?? '', n]))
  const byApp = new Map<string, VmAllocation[]>(names.map((n) => [n, []]))
  for (const stub of currentAllocations(allocations.filter((a) => wanted.has(a.JobID ?? '')))) {
    byApp.get(stub.JobID!)!.push(summary(stub, stub.JobID!, nodeById.get(stub.NodeID ?? '')))
  }
  return byApp
}

/**
 * Where app `name`'s running allocations listen: each port as host:port, in
 * allocation order (the job of any app, wasm service or vm, has the app's name).
 */
export async function appAddresses(
  nomad: Pick<VmNomad, 'allocations' | 'allocation'>,
  name: string,
): Promise<string[]> {
  const running = currentAllocations(await nomad.allocations(name)).filter(
    (a) => a.ClientStatus === 'running',
  )
  const allocs = await Promise.all(running.map((stub) => nomad.allocation(stub.ID ?? '')))
  return allocs.flatMap((alloc) => Object.values(allocationPorts(alloc ?? {}).ports))
}
