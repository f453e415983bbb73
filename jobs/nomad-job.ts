// The slice of Nomad's job JSON the renderers emit (field names as in Nomad's
// HTTP API). Every rendered job is also checked by the real agent's
// /v1/validate/job in the integration tests.
export interface NomadPort {
  Label: string
  Value?: number
}

export interface NomadCheck {
  Name: string
  Type: 'http' | 'tcp'
  Path?: string
  Interval: number
  Timeout: number
}

export interface NomadTask {
  Name: string
  Driver: string
  Config: Record<string, unknown>
  Resources: { CPU: number; MemoryMB: number }
}

export interface NomadTaskGroup {
  Name: string
  Count: number
  Networks: Array<{ DynamicPorts?: NomadPort[]; ReservedPorts?: NomadPort[] }>
  Services: Array<{ Name: string; PortLabel: string; Provider: 'consul'; Checks: NomadCheck[] }>
  Tasks: NomadTask[]
}

export interface NomadJob {
  ID: string
  Name: string
  Type: 'service' | 'batch'
  Datacenters: string[]
  Meta: Record<string, string>
  TaskGroups: NomadTaskGroup[]
}
