// Controllers in the tests act with least-privilege tokens like the cloud's
// own: a Consul policy made by the product's renderer for the keys of that
// controller, and the cloud's controller token in Nomad (the managed
// namespace only). The test itself writes desired state with the operator's.
import { randomUUID } from 'node:crypto'
import { ensureConsulIdentity } from '../../infra/cloud/agents/consul.ts'
import { controllerConsulPolicy } from '../../infra/cloud/identities.ts'
import { loadControllerKeys } from '../../controller/config.ts'
import { uniqueName } from './names.ts'

type Env = Readonly<Record<string, string | undefined>>

/** `env` (the cloud's, with the controller's LEAN_* keys) with CONSUL_HTTP_TOKEN and NOMAD_TOKEN swapped for the controller's own. */
export async function asController(env: Env): Promise<Record<string, string | undefined>> {
  const operator = env.CONSUL_HTTP_TOKEN
  const nomadToken = env.LEAN_CONTROLLER_NOMAD_TOKEN
  if (!operator || !nomadToken) throw new Error('asController: the env lacks CONSUL_HTTP_TOKEN or LEAN_CONTROLLER_NOMAD_TOKEN (use the cloud env of useCloud)')
  const token = randomUUID()
  const name = uniqueName('test-controller')
  const consul = { agent: 'Consul', fetchFn: fetch, origin: env.CONSUL_HTTP_ADDR!, tokenHeader: 'x-consul-token', token: operator } as const
  await ensureConsulIdentity(consul, controllerConsulPolicy(name, loadControllerKeys(env)), token, `controller of a test (${name})`)
  return { ...env, CONSUL_HTTP_TOKEN: token, NOMAD_TOKEN: nomadToken }
}
