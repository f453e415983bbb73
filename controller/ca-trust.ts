// Trusting the CA of a Consul and a Nomad that serve HTTPS (the local cloud's
// own CA, or a user's): the variables their CLIs read, CONSUL_CACERT and
// NOMAD_CACERT (a PEM file) and CONSUL_CAPATH and NOMAD_CAPATH (a directory of
// PEM files), read once at start. Trusted next to the system's roots by every
// fetch of the process and by the `consul` package (controller/consul-client.ts).
import { X509Certificate } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { rootCertificates } from 'node:tls'
import { Agent, setGlobalDispatcher } from 'undici'

export const CA_FILE_VARIABLES = ['CONSUL_CACERT', 'NOMAD_CACERT'] as const
export const CA_DIR_VARIABLES = ['CONSUL_CAPATH', 'NOMAD_CAPATH'] as const
export type CaVariable = (typeof CA_FILE_VARIABLES)[number] | (typeof CA_DIR_VARIABLES)[number]

/** One CA certificate (PEM) and where it was named. */
export interface CaCert {
  readonly variable: CaVariable
  readonly file: string
  readonly pem: string
}

export class CaCertError extends Error {
  readonly code = 'LEAN_ERR_CA_CERT' as const
  constructor(
    readonly variable: CaVariable,
    readonly file: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}: ${file}`)
    this.name = 'CaCertError'
  }
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

function certsOfFile(variable: CaVariable, file: string): CaCert[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CaCertError(
      variable,
      file,
      code === 'ENOENT' ? 'no such file' : `cannot read the file (${code ?? (err as Error).message})`,
    )
  }
  const blocks = text.match(PEM_BLOCK) ?? []
  if (blocks.length === 0) throw new CaCertError(variable, file, 'no PEM certificate in the file')
  return blocks.map((pem) => {
    try {
      new X509Certificate(pem)
    } catch (err) {
      throw new CaCertError(variable, file, `not a valid certificate (${(err as Error).message})`)
    }
    return { variable, file, pem }
  })
}

function certsOfDir(variable: CaVariable, dir: string): CaCert[] {
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CaCertError(
      variable,
      dir,
      code === 'ENOENT'
        ? 'no such directory'
        : `cannot read the directory (${code ?? (err as Error).message})`,
    )
  }
  // As Go's loader does for a CA path: every regular file in it is a PEM file.
  const certs = names
    .map((n) => path.join(dir, n))
    .filter((f) => statSync(f).isFile())
    .flatMap((f) => certsOfFile(variable, f))
  if (certs.length === 0) throw new CaCertError(variable, dir, 'no certificate in the directory')
  return certs
}

/** The CA certificates the environment names; throws CaCertError naming the variable and the path. */
export function readCaCerts(
  env: Record<string, string | undefined>,
  variables: readonly CaVariable[] = [...CA_FILE_VARIABLES, ...CA_DIR_VARIABLES],
): CaCert[] {
  const certs: CaCert[] = []
  for (const variable of variables) {
    const value = env[variable]
    if (value === undefined || value === '') continue
    const isDir = (CA_DIR_VARIABLES as readonly string[]).includes(variable)
    certs.push(...(isDir ? certsOfDir(variable, value) : certsOfFile(variable, value)))
  }
  return certs
}

let trusted: string[] | undefined

/**
 * Trusts `certs` in addition to the system's roots, for the whole process:
 * fetch (through undici's global dispatcher) and node:https's global agent.
 * Nothing changes when `certs` is empty.
 */
export function trustCaCerts(certs: readonly CaCert[]): void {
  if (certs.length === 0) return
  const ca = [...new Set([...(trusted ?? rootCertificates), ...certs.map((c) => c.pem)])]
  trusted = ca
  setGlobalDispatcher(new Agent({ connect: { ca } }))
  https.globalAgent.options.ca = ca
}

/** The trusted CA list when trustCaCerts added any (the system's roots and those); undefined otherwise. */
export function trustedCa(): readonly string[] | undefined {
  return trusted
}

/** readCaCerts, then trustCaCerts: for scripts, tests and benches that read the cloud's variables. */
export function trustCaCertsFromEnv(env: Record<string, string | undefined> = process.env): CaCert[] {
  const certs = readCaCerts(env)
  trustCaCerts(certs)
  return certs
}
