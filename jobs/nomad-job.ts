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
