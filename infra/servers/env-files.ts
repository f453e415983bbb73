// The environment files of a real server: the operator's (every address and
// token, as cloud.env has them) and the controller's own (its least-privilege
// tokens only; its Nomad token comes later, from cluster:init).
import { controllerAddr } from '../cloud/controller-daemon.ts'
import { cloudEnv, type Credentials } from '../cloud/credentials.ts'
import type { IssuedTokens } from '../cloud/issued-tokens.ts'
import type { CloudConfig } from '../cloud/config.ts'

/** What the controller reads (controller/config.ts), without the operator's management tokens. */
const CONTROLLER_VARIABLES = [
  'CONSUL_HTTP_ADDR',
  'CONSUL_HTTP_SSL',
  'CONSUL_CACERT',
  'NOMAD_ADDR',
  'NOMAD_CACERT',
  'NOMAD_NAMESPACE',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_PUBLISHER_ACCESS_KEY',
  'S3_PUBLISHER_SECRET_KEY',
] as const

export function envFileText(header: string, env: Readonly<Record<string, string>>): string {
  for (const [key, value] of Object.entries(env))
    if (/[\n\r]/.test(value)) throw new Error(`environment variable ${key} must be one line`)
  return `# ${header}\n${Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n')}\n`
}

/** The operator's variables on this server, as cloud:up's cloud.env. */
export function operatorEnv(config: CloudConfig, credentials: Credentials): Record<string, string> {
  return cloudEnv(config, credentials)
}

/** The controller's variables, as ensureController gives them to the local cloud's controllers, minus the Nomad token. */
export function controllerEnv(config: CloudConfig, credentials: Credentials): Record<string, string> {
  const all = cloudEnv(config, credentials)
  return {
    ...Object.fromEntries(CONTROLLER_VARIABLES.map((key) => [key, all[key]!])),
    CONSUL_HTTP_TOKEN: credentials.consulControllerToken,
    LEAN_CONTROLLER_HTTP_ADDR: controllerAddr(config),
    LEAN_CONTROLLER_ID: config.node?.name ?? 'controller',
  }
}

/** The controller's Nomad token, issued by Nomad to cluster:init. */
export function controllerTokenEnv(issued: IssuedTokens): Record<string, string> {
  if (!issued.nomadController) throw new Error("Nomad has issued no controller token yet (ensureResources of the Nomad agent issues it)")
  return { NOMAD_TOKEN: issued.nomadController.secretId }
}
