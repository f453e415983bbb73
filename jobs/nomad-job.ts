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
export function serviceJobHead(spec: { readonly name: string; readonly datacenters?: readonly string[] | undefined; readonly meta?: Readonly<Record<string, string>> | undefined }) {
  return {
    ID: spec.name,
    Name: spec.name,
    Type: 'service' as const,
    Datacenters: [...(spec.datacenters ?? ['dc1'])],
    Meta: { ...spec.meta },
  }
}
