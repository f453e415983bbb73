// Renders a Nomad job for a WebAssembly HTTP service run by the `wasm` task
// driver, from a small typed spec. Pure: no I/O, deterministic output.
import { renderPlacement, type Placement } from './placement.ts'
import { defaultComponentSource } from '../task-driver/wasm/component-source.ts'
import { fieldValue, parseDuration, parseSize } from '../ground/units.ts'
import { formatOutboundGrant, MAX_OUTBOUND_GRANTS, parseOutboundGrant } from '../ground/outbound-grant.ts'
import { DEFAULT_INSTANCE_MEMORY, MAIL_RECIPIENT } from '../task-driver/wasm/task-config.ts'
import { assertNotReserved } from './app-names.ts'
import { SpecError } from './errors.ts'
import { CHECK_PATH, CHECK_PATH_RULE, ingressTags, type IngressSpec } from './ingress.ts'
import {
  literalConfig,
  rollingUpdate,
  serviceJobHead,
  SHUTDOWN_DELAY_SECONDS,
  type NomadJob,
} from './nomad-job.ts'

export interface WasmServiceSpec {
  /** Job and task group name: lower-case letters, digits and dashes. */
  readonly name: string
  readonly component: {
    readonly sha256: string
    /** Where clients fetch it; default `s3://artifacts/components/<sha256>.wasm`. */
    readonly source?: string
  }
  readonly count: number
  /** A fixed host port (one allocation per node), or a dynamic one. */
  readonly port: { readonly static: number } | 'dynamic'
  readonly service: {
    /** Consul service name: `<name>.service.consul`. */
    readonly name: string
    readonly checkPath?: string
    readonly checkIntervalSeconds?: number
  }
  readonly instances?: number
  /** What the component may use through the capability API; nothing by default. */
  readonly grants?: {
    readonly buckets?: readonly string[]
    readonly requestLog?: boolean
    /** Where its wasi:http calls may go: `http://email.service.consul`, `https://api.example.com:8443` (ground/outbound-grant.ts). */
    readonly outbound?: readonly string[]
    /** Whom it may mail: addresses, or domains (any address at one); nobody when absent. */
    readonly mail?: readonly string[]
  }
  /** Driver limits, in the driver's own units ("30s", "8MiB"). */
  readonly limits?: {
    readonly requestTimeout?: string
    readonly maxRequestBody?: string
    readonly instanceMemory?: string
  }
  readonly env?: Readonly<Record<string, string>>
  readonly resources?: { readonly cpu: number; readonly memoryMB: number }
  readonly datacenters?: readonly string[]
  readonly meta?: Readonly<Record<string, string>>
  /** Reached through the cloud's ingress at `http://<host>.lean.localhost:<ingress port>/` (jobs/ingress.ts). */
  readonly ingress?: IngressSpec
  /** Where its allocations may go: spread over the nodes, kept to nodes whose attributes match. */
  readonly placement?: Placement
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/
/** An environment variable's name. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const SECOND = 1e9 // Nomad durations are nanoseconds
export const DEFAULT_INSTANCES = 2
/**
 * A task's reservation when its document states no `resources`. CPU: a warm
 * task's host idles at about 8 MHz (0.3 % of a 2.4 GHz core, the JavaScript
 * hello with 2 instances) and Nomad's `cpu` is a share under contention, not a
 * cap, so a busy task still takes any idle CPU; 50 MHz leaves room for health
 * checks and light traffic. Memory is the task's cgroup limit, a hard one: a warm
 * task holds 14–40 MiB RSS (Rust and JavaScript hello, idle and after load;
 * docs/benchmarks.md, task-driver/engine/README.md), but the default 2
 * instances may each grow to the driver's 128 MiB instance_memory, which
 * validateWasmService requires the task to hold, so it stays 256.
 */
export const DEFAULT_RESOURCES = { cpu: 50, memoryMB: 256 } as const

/** Checks a spec; every problem names the field and the reason. */
export function validateWasmService(spec: WasmServiceSpec): void {
  const fail = (field: string, reason: string): never => {
    throw new SpecError(field, reason)
  }
  if (!NAME.test(spec.name))
    fail('name', 'expected lower-case letters, digits and dashes, starting with a letter (at most 63)')
  if (!/^[0-9a-f]{64}$/.test(spec.component.sha256))
    fail('component.sha256', 'expected 64 lower-case hexadecimal characters')
  if (!Number.isInteger(spec.count) || spec.count < 0 || spec.count > 1000)
    fail('count', 'expected a whole number from 0 to 1000')
  if (spec.port !== 'dynamic') {
    const p = spec.port.static
    if (!Number.isInteger(p) || p < 1 || p > 65535) fail('port.static', 'expected a TCP port from 1 to 65535')
  }
  if (!NAME.test(spec.service.name))
    fail('service.name', 'expected a DNS label: lower-case letters, digits and dashes')
  assertNotReserved('service.name', spec.service.name)
  if (spec.service.checkPath !== undefined && !CHECK_PATH.test(spec.service.checkPath))
    fail('service.checkPath', CHECK_PATH_RULE)
  if (
    spec.instances !== undefined &&
    (!Number.isInteger(spec.instances) || spec.instances < 1 || spec.instances > 1024)
  ) {
    fail('instances', 'expected a whole number from 1 to 1024')
  }
  if (spec.resources) {
    if (!Number.isInteger(spec.resources.cpu) || spec.resources.cpu < 10)
      fail('resources.cpu', 'expected at least 10 MHz')
    if (!Number.isInteger(spec.resources.memoryMB) || spec.resources.memoryMB < 16)
      fail('resources.memoryMB', 'expected at least 16 MB')
  }
  for (const [i, bucket] of (spec.grants?.buckets ?? []).entries()) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      fail(`grants.buckets[${i}]`, `${JSON.stringify(bucket)} is not a bucket name`)
  }
  for (const [i, recipient] of (spec.grants?.mail ?? []).entries()) {
    if (!MAIL_RECIPIENT.test(recipient))
      fail(
        `grants.mail[${i}]`,
        `${JSON.stringify(recipient)} is not an e-mail address or a domain (lower case)`,
      )
  }
  const outbound = spec.grants?.outbound ?? []
  if (outbound.length > MAX_OUTBOUND_GRANTS) fail('grants.outbound', `at most ${MAX_OUTBOUND_GRANTS} grants`)
  const seen = new Set<string>()
  for (const [i, entry] of outbound.entries()) {
    const grant = formatOutboundGrant(
      fieldValue(`grants.outbound[${i}]`, () => parseOutboundGrant(entry), fail),
    )
    if (seen.has(grant)) fail(`grants.outbound[${i}]`, `${grant} is granted twice`)
    seen.add(grant)
  }
  // The units the driver reads too (ground/units.ts), so the renderer accepts exactly what clients will.
  const limit = (
    field: string,
    value: string | undefined,
    parse: (raw: string) => number,
  ): number | undefined =>
    value === undefined ? undefined : fieldValue(`limits.${field}`, () => parse(value), fail)
  limit('requestTimeout', spec.limits?.requestTimeout, parseDuration)
  limit('maxRequestBody', spec.limits?.maxRequestBody, parseSize)
  const instanceMemory =
    limit('instanceMemory', spec.limits?.instanceMemory, parseSize) ?? parseSize(DEFAULT_INSTANCE_MEMORY)
  // Each instance may grow to instanceMemory; the task's cgroup holds them all to memoryMB.
  const instances = spec.instances ?? DEFAULT_INSTANCES
  const instanceMiB = instanceMemory / 2 ** 20
  const memoryMB = spec.resources?.memoryMB ?? DEFAULT_RESOURCES.memoryMB
  if (instances * instanceMiB > memoryMB)
    fail(
      'limits.instanceMemory',
      `${instances} instances × ${instanceMiB} MiB = ${instances * instanceMiB} MiB do not fit the task's resources.memoryMB (${memoryMB}); lower instances or instanceMemory, or raise resources.memoryMB`,
    )
  for (const key of Object.keys(spec.env ?? {}))
    if (!ENV_NAME.test(key)) fail(`env.${key}`, 'not a valid variable name')
  if (spec.ingress) ingressTags(spec.ingress, spec.service.checkPath ?? '/health')
}

/**
 * Why the spec cannot be fully placed on `nodes` eligible client nodes, or
 * undefined. A fixed port admits one allocation per node.
 */
export function placementProblem(spec: WasmServiceSpec, nodes: number): string | undefined {
  if (spec.port !== 'dynamic' && spec.count > nodes) {
    return (
      `${spec.name}: ${spec.count} allocations on fixed port ${spec.port.static} need ${spec.count} nodes, ` +
      `but ${nodes} ${nodes === 1 ? 'is' : 'are'} eligible; use a dynamic port (Consul SRV records carry it) or add nodes`
    )
  }
  return undefined
}

// `satisfies`, not a return type: the generated NomadJob makes every field
// optional, and callers keep the precise shape rendered here.
export function renderWasmServiceJob(spec: WasmServiceSpec) {
  validateWasmService(spec)
  const port =
    spec.port === 'dynamic'
      ? { DynamicPorts: [{ Label: 'http' }] }
      : { ReservedPorts: [{ Label: 'http', Value: spec.port.static }] }
  const interval = (spec.service.checkIntervalSeconds ?? 5) * SECOND
  return {
    ...serviceJobHead(spec),
    TaskGroups: [
      {
        Name: spec.name,
        Count: spec.count,
        ...renderPlacement(spec.placement),
        Networks: [port],
        // Scaling down, a new version or a stopped allocation: out of Consul first, stopped after the delay.
        ShutdownDelay: SHUTDOWN_DELAY_SECONDS * SECOND,
        Update: rollingUpdate(spec.count),
        Services: [
          {
            Name: spec.service.name,
            PortLabel: 'http',
            Provider: 'consul',
            ...(spec.ingress && { Tags: ingressTags(spec.ingress, spec.service.checkPath ?? '/health') }),
            Checks: [
              {
                Name: `${spec.service.name} http`,
                Type: 'http',
                Path: spec.service.checkPath ?? '/health',
                Interval: interval,
                Timeout: Math.min(interval, 2 * SECOND),
              },
            ],
          },
        ],
        Tasks: [
          {
            Name: spec.name,
            Driver: 'wasm',
            // Every string from the document reaches the driver as text (nomadLiteral).
            Config: literalConfig({
              // The app's name: the rows of request_logs, outbox and mail_sends the task reaches.
              app: spec.name,
              component: spec.component.source ?? defaultComponentSource(spec.component.sha256),
              sha256: spec.component.sha256,
              port: 'http',
              instances: spec.instances ?? DEFAULT_INSTANCES,
              env: { ...spec.env },
              ...(spec.limits?.requestTimeout && { request_timeout: spec.limits.requestTimeout }),
              ...(spec.limits?.maxRequestBody && { max_request_body: spec.limits.maxRequestBody }),
              ...(spec.limits?.instanceMemory && { instance_memory: spec.limits.instanceMemory }),
              ...(spec.grants && {
                grants: [
                  {
                    buckets: [...(spec.grants.buckets ?? [])],
                    request_log: spec.grants.requestLog ?? false,
                    // Normalised, so the driver and the job's spec hash see one form.
                    outbound: (spec.grants.outbound ?? []).map((entry) =>
                      formatOutboundGrant(parseOutboundGrant(entry)),
                    ),
                    mail_to: [...(spec.grants.mail ?? [])],
                  },
                ],
              }),
            }),
            Resources: {
              CPU: spec.resources?.cpu ?? DEFAULT_RESOURCES.cpu,
              MemoryMB: spec.resources?.memoryMB ?? DEFAULT_RESOURCES.memoryMB,
            },
          },
        ],
      },
    ],
  } satisfies NomadJob
}
