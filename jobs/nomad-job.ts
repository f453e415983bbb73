// The Nomad job JSON the renderers emit, under the names they use: the types
// generated from the pinned Nomad api package (generated/nomad), field names
// as in Nomad's HTTP API. Every rendered job is also checked by the real
// agent's /v1/validate/job in the integration tests.
export type {
  Job as NomadJob,
  TaskGroup as NomadTaskGroup,
  Task as NomadTask,
  Port as NomadPort,
  ServiceCheck as NomadCheck,
} from '../generated/nomad/types.ts'

/** The top of every service job the renderers emit: its name, where it may run, and its meta. */
export function serviceJobHead(spec: {
  readonly name: string
  readonly datacenters?: readonly string[] | undefined
  readonly meta?: Readonly<Record<string, string>> | undefined
}) {
  return {
    ID: spec.name,
    Name: spec.name,
    Type: 'service' as const,
    Datacenters: [...(spec.datacenters ?? ['dc1'])],
    Meta: { ...spec.meta },
  }
}

const SECOND = 1e9 // Nomad durations are nanoseconds

/**
 * Between taking an instance out of Consul and stopping it: clients that find
 * instances through Consul (the ingress re-reads its SRV records every second,
 * Consul DNS answers at once) stop sending to it while it still answers.
 */
export const SHUTDOWN_DELAY_SECONDS = 5

/**
 * A rolling update that waits for Consul's checks: at most a third of the
 * allocations (at least one) are replaced at once, and the next ones only
 * when the new ones pass their checks, so the rest keep serving meanwhile.
 */
export function rollingUpdate(count: number) {
  return {
    MaxParallel: Math.max(1, Math.ceil(count / 3)),
    HealthCheck: 'checks',
    MinHealthyTime: 2 * SECOND,
    HealthyDeadline: 5 * 60 * SECOND,
    ProgressDeadline: 10 * 60 * SECOND,
    AutoRevert: false,
    Canary: 0,
  }
}

/**
 * A string that reaches a task driver's config as itself. Nomad evaluates
 * every string of a driver config as an HCL template on the client (with the
 * node's attributes, the task's environment and HCL functions), so `${…}` and
 * `%{…}` from a document would be filled in, or fail the task; doubled, they
 * stay text.
 */
export function nomadLiteral(text: string): string {
  // Replacer functions: in a replacement string `$$` would itself mean `$`.
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{')
}

/** A driver config with every string in it, map keys too, made a literal (nomadLiteral). */
export function literalConfig<T>(value: T): T {
  if (typeof value === 'string') return nomadLiteral(value) as T
  if (Array.isArray(value)) return value.map((v: unknown) => literalConfig(v)) as T
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [nomadLiteral(k), literalConfig(v)])) as T
  return value
}
