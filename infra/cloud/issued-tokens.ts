// Tokens Nomad issued to the cloud's identities. Unlike Consul, Nomad makes a
// token's secret itself, so the secret is state of the running Nomad: kept in
// the data dir (0600) and issued again when Nomad no longer knows it (its
// state was reset).
import { layout, type CloudConfig } from './config.ts'
import { readTextIfExists, writeFileAtomic } from './files.ts'

export interface IssuedTokens {
  /** The cloud's controller in Nomad: jobs in the managed namespace only. */
  readonly nomadController?: { readonly accessorId: string; readonly secretId: string }
}

export async function readIssuedTokens(config: CloudConfig): Promise<IssuedTokens> {
  const text = await readTextIfExists(layout(config).issuedTokens)
  return text === undefined ? {} : (JSON.parse(text) as IssuedTokens)
}

export async function writeIssuedTokens(config: CloudConfig, tokens: IssuedTokens): Promise<void> {
  await writeFileAtomic(layout(config).issuedTokens, `${JSON.stringify(tokens, null, 2)}\n`, 0o600)
}
