// Nomad's TaskConfig message (driver.proto) with the fields our drivers
// read, typed, and the one way both find a task's port by its label.
// Everything below `resources` is optional: the proto loader fills in
// defaults, but a hand-built task (tests, recovery) may leave parts out.

export interface NetworkPort {
  readonly label?: string
  readonly value?: number
}

export interface PortMapping extends NetworkPort {
  /** The port inside the task (a VM's guest port); 0 or absent: the same as `value`. */
  readonly to?: number
  readonly host_ip?: string
}

export interface NetworkResource {
  readonly ip?: string
  readonly reserved_ports?: readonly NetworkPort[]
  readonly dynamic_ports?: readonly NetworkPort[]
}

export interface TaskResources {
  readonly allocated_resources?: {
    readonly cpu?: { readonly cpu_shares?: number }
    readonly memory?: { readonly memory_mb?: number; readonly memory_max_mb?: number }
    readonly networks?: readonly NetworkResource[]
  }
  readonly linux_resources?: {
    readonly cpu_shares?: number
    readonly memory_limit_bytes?: number
    readonly cpuset_cpus?: string
    readonly cpuset_cgroup?: string
  }
  readonly ports?: readonly PortMapping[]
}

/** One task as Nomad hands it to StartTask (and keeps in a handle for RecoverTask). */
export interface NomadTask {
  /** <alloc id>/<task name>/<attempt>. */
  readonly id: string
  readonly name: string
  readonly alloc_id: string
  readonly alloc_dir: string
  readonly stdout_path: string
  readonly stderr_path: string
  readonly env: Readonly<Record<string, string>>
  /** The job's `config {}` block, go-cty MessagePack. */
  readonly msgpack_driver_config: Uint8Array
  readonly resources?: TaskResources
}

/** Who an event or a log line is about. */
export type TaskRef = Pick<NomadTask, 'id' | 'alloc_id' | 'name'>

export interface FoundPort {
  readonly hostAddress: string
  readonly hostPort: number
  /** The port inside the task: a mapping's `to`, else the host port. */
  readonly taskPort: number
}

/**
 * The port labelled `label`: Nomad's port mapping when the group has one,
 * else the allocated networks; undefined when the group has no such port.
 * An empty address is the node's loopback.
 */
export function findPort(task: { readonly resources?: TaskResources }, label: string): FoundPort | undefined {
  const mapping = task.resources?.ports?.find((p) => p.label === label)
  if (mapping) {
    const hostPort = Number(mapping.value)
    return { hostAddress: mapping.host_ip || '127.0.0.1', hostPort, taskPort: Number(mapping.to) || hostPort }
  }
  for (const n of task.resources?.allocated_resources?.networks ?? []) {
    const p = [...(n.reserved_ports ?? []), ...(n.dynamic_ports ?? [])].find((x) => x.label === label)
    if (p) return { hostAddress: n.ip || '127.0.0.1', hostPort: Number(p.value), taskPort: Number(p.value) }
  }
  return undefined
}
