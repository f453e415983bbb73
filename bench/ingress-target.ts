// The PDF service as a Nomad allocation behind the cloud's ingress, for
// bench:workloads: one allocation, so "direct" (its own port) and "through the
// ingress" (HAProxy on the ingress port, routed by Host) reach the same
// instance and the difference is the ingress itself. The ingress is the
// cloud's (cloud:up registers it); the PDF job is removed again by stop().
import { NomadApi } from '../controller/nomad-api.ts'
import { waitFor } from '../infra/cloud/wait.ts'
import { INGRESS_DOMAIN } from '../jobs/ingress.ts'
import { renderWasmServiceJob } from '../jobs/wasm-service.ts'
import { pdfServiceSpec } from '../jobs/workloads.ts'
import { ingressClient, waitForIngress, waitForRoute } from '../infra/cloud/ingress-client.ts'
import { uniqueName } from '../test/harness/names.ts'

export interface IngressTarget {
  /** The allocation's own address (ends in /). */
  readonly direct: string
  /** The ingress's address (ends in /); send `headers` with it. */
  readonly ingress: string
  readonly headers: Readonly<Record<string, string>>
  stop(): Promise<void>
}

export async function startIngressTarget(
  env: Readonly<Record<string, string>>,
  /** The cloud's ingress port (its config's ingress.port). */
  ingressPort: number,
  component: { readonly file: string; readonly sha256: string },
  instances: number,
): Promise<IngressTarget> {
  const nomad = new NomadApi(env.NOMAD_ADDR!, env.NOMAD_TOKEN, env.NOMAD_NAMESPACE)

  const name = uniqueName('bench-pdf')
  const job = renderWasmServiceJob({
    ...pdfServiceSpec({
      sha256: component.sha256,
      source: component.file,
      name,
      count: 1,
      port: 'dynamic',
      instances,
    }),
    ingress: { host: name },
  })
  await nomad.register(job, 0)
  const stop = async () => {
    await nomad.deregister(name)
  }
  try {
    const direct = await waitFor(
      async () => {
        const res = await fetch(`${env.CONSUL_HTTP_ADDR}/v1/health/service/${name}?passing=true`, {
          headers: env.CONSUL_HTTP_TOKEN ? { 'x-consul-token': env.CONSUL_HTTP_TOKEN } : {},
        })
        const [entry] = (await res.json()) as Array<{ Service: { Address: string; Port: number } }>
        return entry && `http://${entry.Service.Address || '127.0.0.1'}:${entry.Service.Port}/`
      },
      { timeoutMs: 180_000, intervalMs: 250, what: `a passing ${name} instance` },
    )
    await waitForIngress(ingressPort)
    const client = ingressClient(ingressPort)
    try {
      await waitForRoute(client, name, 200)
    } finally {
      client.close()
    }
    return {
      direct,
      ingress: `http://127.0.0.1:${ingressPort}/`,
      headers: { Host: `${name}.${INGRESS_DOMAIN}` },
      stop,
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}
