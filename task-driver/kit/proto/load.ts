// Loads our own .proto files (written from docs/nomad-driver-protocol.md §2.4, §3, §6.3) with
// @grpc/proto-loader and hands out the grpc-js service definitions the plugin serves.
//
// proto-loader options and why (they decide the JS shape of every decoded request and what the
// serializers accept):
// - keepCase: true   field names exactly as in the .proto files: snake_case (`alloc_dir`,
//                    `memory_mb`) and the odd wire-side names `Attr`, `ClientMaxPort`,
//                    `Topology`, `PercentTicks`, `hostsConfig`. Without it they would be camelCased.
// - longs: Number    int64/uint64 fields (memory_mb, memory stats, cpu_shares, Duration.seconds,
//                    Timestamp.seconds, ...) decode as plain JS numbers instead of Long objects.
//                    Values above 2^53 lose precision, which no field we use can reach. When
//                    encoding, numbers (or decimal strings) are accepted for these fields.
// - enums: Number    enums decode as their numeric value, i.e. what is on the wire. This keeps the
//                    aliased DriverCapabilities.MountConfigs (UNKNOWN_MOUNTS = ANY_MOUNTS = 0)
//                    unambiguous. Encoding accepts numbers or value names; use the constants below.
// - bytes: (default) bytes decode as Node Buffers (msgpack_driver_config, driver_state, ...).
// - defaults: true   absent scalars decode as 0 / "" / false, absent repeated fields as [], absent
//                    maps as {}, absent message fields as null. Oneof members that are not set
//                    stay undefined.
// - oneofs: true     a virtual property names the member that is set: `spec.block === 'object'`,
//                    `attribute.value === 'string_val'`.
// - includeDirs      this directory, so the files import each other by bare file name. The
//                    google/protobuf/*.proto imports are served by the copies bundled with
//                    protobufjs (proto-loader's dependency); nothing is read from the network.
//
// The .proto files are read from disk next to this module at run time.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as protoLoader from '@grpc/proto-loader'
import protobuf from 'protobufjs'
import type { ServiceDefinition } from '@grpc/grpc-js'

export type { ServiceDefinition }

/** Directory holding our .proto files. */
export const PROTO_DIR = fileURLToPath(new URL('.', import.meta.url))

/** Every file of the protocol, relative to PROTO_DIR. */
export const PROTO_FILES = [
  'hclspec.proto',
  'structs.proto',
  'base.proto',
  'driver.proto',
  'go-plugin.proto',
  'health.proto',
  'rpc-status.proto',
] as const

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
}

/** Fully qualified service names; they form the gRPC paths `/<name>/<Method>`. */
export const SERVICE_NAMES = {
  BasePlugin: 'hashicorp.nomad.plugins.base.proto.BasePlugin',
  Driver: 'hashicorp.nomad.plugins.drivers.proto.Driver',
  GRPCController: 'plugin.GRPCController',
  GRPCStdio: 'plugin.GRPCStdio',
  GRPCBroker: 'plugin.GRPCBroker',
  Health: 'grpc.health.v1.Health',
} as const

export type ServiceName = keyof typeof SERVICE_NAMES

/** The services a driver plugin serves, ready for `server.addService(def, impl)`. */
export type ProtocolServices = { readonly [K in ServiceName]: ServiceDefinition }

export interface Protocol {
  /** The raw proto-loader package definition, keyed by fully qualified names. */
  readonly packageDefinition: protoLoader.PackageDefinition
  readonly services: ProtocolServices
}

let cached: Protocol | undefined

/** Loads (once) all protocol files and returns the service definitions. */
export function loadProtocol(): Protocol {
  if (cached) return cached
  const packageDefinition = protoLoader.loadSync([...PROTO_FILES], LOADER_OPTIONS)
  const services = {} as Record<ServiceName, ServiceDefinition>
  for (const [key, fullName] of Object.entries(SERVICE_NAMES) as [ServiceName, string][]) {
    const def = packageDefinition[fullName]
    if (!def || 'format' in def)
      throw new Error(`protocol: service ${fullName} missing from the .proto files`)
    // proto-loader's ServiceDefinition is structurally grpc-js's; the cast only drops generics.
    services[key] = def as unknown as ServiceDefinition
  }
  cached = { packageDefinition, services }
  return cached
}

let cachedRoot: protobuf.Root | undefined

/**
 * A protobufjs Root with the same files, for encoding messages outside a gRPC call (status
 * details, tests). Loaded with keepCase so names match the proto-loader objects.
 */
export function protocolRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target))
  root.loadSync([...PROTO_FILES], { keepCase: true })
  root.resolveAll()
  cachedRoot = root
  return root
}

/** Looks up a message type by fully qualified name, e.g. `google.rpc.Status`. */
export function messageType(fullName: string): protobuf.Type {
  return protocolRoot().lookupType(fullName)
}

// ---- google.rpc.Status details (grpc-status-details-bin) ----

export const RECOVERABLE_ERROR_TYPE_URL =
  'type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError'

/** FAILED_PRECONDITION, the code Go drivers use for errors carrying a RecoverableError detail. */
export const RECOVERABLE_ERROR_STATUS_CODE = 9

/**
 * Serialized google.rpc.Status for the `grpc-status-details-bin` trailer, whose first (only)
 * detail is an Any wrapping `RecoverableError{recoverable}`. Nomad only inspects that first detail.
 * The gRPC error sent alongside must carry the same code (default FAILED_PRECONDITION) and
 * message, since gRPC clients may prefer the trailer's values.
 */
export function encodeRecoverableErrorDetails(
  message: string,
  recoverable: boolean,
  code: number = RECOVERABLE_ERROR_STATUS_CODE,
): Buffer {
  const RecoverableError = messageType('hashicorp.nomad.plugins.shared.structs.RecoverableError')
  const Status = messageType('google.rpc.Status')
  const value = RecoverableError.encode(RecoverableError.fromObject({ recoverable })).finish()
  const status = Status.fromObject({
    code,
    message,
    details: [{ type_url: RECOVERABLE_ERROR_TYPE_URL, value }],
  })
  return Buffer.from(Status.encode(status).finish())
}

export interface DecodedStatusDetails {
  code: number
  message: string
  /** Type URLs of all details, in order. */
  detailTypeUrls: string[]
  /** `recoverable` of the first detail when it is a RecoverableError, else undefined. */
  recoverable: boolean | undefined
}

/** Decodes a `grpc-status-details-bin` value the way Nomad's client reads it. */
export function decodeStatusDetails(bytes: Uint8Array): DecodedStatusDetails {
  const Status = messageType('google.rpc.Status')
  const RecoverableError = messageType('hashicorp.nomad.plugins.shared.structs.RecoverableError')
  const status = Status.toObject(Status.decode(bytes), { defaults: true, arrays: true }) as {
    code: number
    message: string
    details: { type_url: string; value: Uint8Array }[]
  }
  const first = status.details[0]
  let recoverable: boolean | undefined
  if (first?.type_url === RECOVERABLE_ERROR_TYPE_URL) {
    const detail = RecoverableError.toObject(RecoverableError.decode(first.value), { defaults: true })
    recoverable = detail['recoverable'] === true
  }
  return {
    code: status.code,
    message: status.message,
    detailTypeUrls: status.details.map((d) => d.type_url),
    recoverable,
  }
}

// ---- Enum values (numbers, as on the wire and as decoded with enums: Number) ----

export const PluginType = { UNKNOWN: 0, DRIVER: 2, DEVICE: 3 } as const
export const TaskState = { UNKNOWN: 0, RUNNING: 1, EXITED: 2 } as const
export const FSIsolation = { NONE: 0, CHROOT: 1, IMAGE: 2, UNVEIL: 3 } as const
export const MountConfigs = { UNKNOWN_MOUNTS: 0, ANY_MOUNTS: 0, NO_MOUNTS: 1 } as const
export const NetworkIsolationMode = { HOST: 0, GROUP: 1, TASK: 2, NONE: 3 } as const
export const HealthState = { UNDETECTED: 0, UNHEALTHY: 1, HEALTHY: 2 } as const
export const StartTaskResult = { SUCCESS: 0, RETRY: 1, FATAL: 2 } as const
export const CpuUsageField = {
  SYSTEM_MODE: 0,
  USER_MODE: 1,
  TOTAL_TICKS: 2,
  THROTTLED_PERIODS: 3,
  THROTTLED_TIME: 4,
  PERCENT: 5,
} as const
export const MemoryUsageField = {
  RSS: 0,
  CACHE: 1,
  MAX_USAGE: 2,
  KERNEL_USAGE: 3,
  KERNEL_MAX_USAGE: 4,
  USAGE: 5,
  SWAP: 6,
} as const
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const
export const StdioChannel = { INVALID: 0, STDOUT: 1, STDERR: 2 } as const
