// The names an app takes for itself in the cloud: its Consul service
// (`<name>.service.consul`, SRV, what other apps call) and its ingress host
// (`<host>.lean.localhost`). Each belongs to the app that declared it first
// (controller/name-claims.ts decides, by the documents' create index); the
// cloud's own names belong to no app. Pure.
import { SpecError } from './errors.ts'

/** Names of the cloud's own services and agents: no app may register or be reached under one. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'consul',
  'nomad',
  'nomad-client',
  'vault',
  'lean-cloud',
  'lean-controller',
  'lean-ingress',
  'lean-s3',
])

/** Refuses a reserved name for `field`. */
export function assertNotReserved(field: string, name: string): void {
  if (RESERVED_NAMES.has(name))
    throw new SpecError(field, `"${name}" is reserved for the cloud's own services (${[...RESERVED_NAMES].join(', ')})`)
}

export interface NameClaim {
  readonly kind: 'service' | 'ingress host'
  readonly name: string
  /** The document field that declares it. */
  readonly field: string
}
