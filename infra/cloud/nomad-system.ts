// What may run where in the cloud's Nomad, and the cloud's own job.
//
// Nomad checks a namespace's task drivers at every job register, plan and
// revert, whatever the token (management ones too). The managed namespace,
// where the controller registers apps, allows only the drivers it renders:
// `wasm` and `virt`. The system namespace holds the cloud's own jobs (the
// ingress) and is the only one that allows `raw_exec`; only the management
// token (cloud:up) may register there. `default` allows anything but `raw_exec`.
// So no controller's or app's token can start a command on a node, and the
// ingress is registered and kept by cloud:up, not by a controller.
import {
  FORMER_INGRESS_OWNER,
  INGRESS_JOB,
  INGRESS_OWNER,
  INGRESS_VERSION,
  META_INGRESS_HASH,
  META_INGRESS_OWNER,
  META_INGRESS_VERSION,
  renderIngressJob,
} from '../../jobs/ingress.ts'
import { agentJson, type AgentApi } from './agent-api.ts'
import type { CloudConfig } from './config.ts'

/** The drivers the controller renders jobs for. */
export const MANAGED_DRIVERS = ['wasm', 'virt'] as const

interface NamespaceBody {
  readonly Name: string
  readonly Description: string
  readonly Capabilities: {
    readonly EnabledTaskDrivers: readonly string[]
    readonly DisabledTaskDrivers: readonly string[]
  }
}

/** The namespaces cloud:up keeps, with the drivers each allows. Pure. */
export function cloudNamespaces(config: CloudConfig): NamespaceBody[] {
  return [
    {
      Name: config.controller.namespace,
      Description: `Jobs the lean cloud controller manages: ${MANAGED_DRIVERS.join(' and ')} tasks only`,
      Capabilities: { EnabledTaskDrivers: [...MANAGED_DRIVERS], DisabledTaskDrivers: [] },
    },
    {
      Name: config.nomad.systemNamespace,
      Description:
        "The cloud's own jobs (the ingress), registered by cloud:up; the only namespace where raw_exec runs",
      Capabilities: { EnabledTaskDrivers: ['raw_exec'], DisabledTaskDrivers: [] },
    },
    {
      Name: 'default',
      Description: 'Default shared namespace (no raw_exec)',
      Capabilities: { EnabledTaskDrivers: [], DisabledTaskDrivers: ['raw_exec'] },
    },
  ]
}

const same = (a: readonly string[] | null | undefined, b: readonly string[]) =>
  JSON.stringify([...(a ?? [])].sort()) === JSON.stringify([...b].sort())

/** Makes or corrects each namespace; returns the names it wrote. */
export async function ensureNamespaces(nomad: AgentApi, config: CloudConfig): Promise<string[]> {
  const written: string[] = []
  for (const ns of cloudNamespaces(config)) {
    const current = await agentJson<{
      Description?: string
      Capabilities?: { EnabledTaskDrivers?: string[] | null; DisabledTaskDrivers?: string[] | null } | null
    }>(nomad, 'GET', `/v1/namespace/${ns.Name}`)
    const caps = current?.Capabilities
    if (
      current &&
      current.Description === ns.Description &&
      same(caps?.EnabledTaskDrivers, ns.Capabilities.EnabledTaskDrivers) &&
      same(caps?.DisabledTaskDrivers, ns.Capabilities.DisabledTaskDrivers)
    )
      continue
    await agentJson(nomad, 'PUT', `/v1/namespace/${ns.Name}`, ns)
    written.push(ns.Name)
  }
  return written
}

interface JobStub {
  ID: string
  Namespace: string
  Stop: boolean
  JobModifyIndex?: number
  Meta?: Record<string, string> | null
}

/**
 * Registers the ingress in the system namespace when it is absent, stopped or
 * rendered from other settings; stops the one a controller used to keep in
 * the managed namespace (both would want the same port). Returns what it did.
 */
export async function ensureIngressJob(nomad: AgentApi, config: CloudConfig): Promise<string[]> {
  const done: string[] = []
  const jobs =
    (await agentJson<JobStub[]>(nomad, 'GET', `/v1/jobs?namespace=*&meta=true&prefix=${INGRESS_JOB}`)) ?? []
  for (const former of jobs.filter(
    (j) => j.ID === INGRESS_JOB && !j.Stop && j.Meta?.[META_INGRESS_OWNER] === FORMER_INGRESS_OWNER,
  )) {
    await agentJson(
      nomad,
      'DELETE',
      `/v1/job/${INGRESS_JOB}?namespace=${encodeURIComponent(former.Namespace)}`,
    )
    done.push(`stopped the controller's former ingress in ${former.Namespace}`)
  }
  const namespace = config.nomad.systemNamespace
  const desired = renderIngressJob({
    port: config.ingress.port,
    // A cluster's ingress asks the Consul agent of its own node.
    consulDns: config.node ? { port: config.consul.dnsPort } : `${config.host}:${config.consul.dnsPort}`,
    namespace,
  })
  const job = jobs.find((j) => j.ID === INGRESS_JOB && j.Namespace === namespace)
  if (job && job.Meta?.[META_INGRESS_OWNER] !== INGRESS_OWNER)
    throw new Error(
      `a Nomad job ${namespace}/${INGRESS_JOB} exists that is not the cloud's ingress; stop it, then run cloud:up again`,
    )
  if (job && !job.Stop && job.Meta?.[META_INGRESS_HASH] === desired.Meta[META_INGRESS_HASH]) return done
  if (job && !job.Stop && Number(job.Meta?.[META_INGRESS_VERSION] ?? 0) > INGRESS_VERSION) return done
  await agentJson(nomad, 'PUT', `/v1/jobs?namespace=${encodeURIComponent(namespace)}`, {
    Job: desired,
    EnforceIndex: true,
    JobModifyIndex: job?.JobModifyIndex ?? 0,
  })
  done.push(
    `registered the ingress (${namespace}/${INGRESS_JOB}, port ${config.ingress.port}, HAProxy as ${desired.TaskGroups[0]!.Tasks[0]!.User})`,
  )
  return done
}
