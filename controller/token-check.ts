// Checks the configured ACL tokens once at start: a wrong, expired or missing
// token stops the controller with a message naming its variable, instead of
// a stream of refused requests later.
export class TokenRefusedError extends Error {
  readonly code = 'LEAN_ERR_TOKEN_REFUSED' as const
  constructor(readonly variable: 'CONSUL_HTTP_TOKEN' | 'NOMAD_TOKEN', message: string) {
    super(message)
    this.name = 'TokenRefusedError'
  }
}

export interface TokenSettings {
  readonly consulAddr: string
  readonly consulToken?: string
  readonly nomadAddr: string
  readonly nomadToken?: string
  readonly nomadNamespace: string
  readonly appsPrefix: string
}

/** What to tell the user about a refused token; `variable` names where it came from. */
export function refusal(variable: TokenRefusedError['variable'], system: string, addr: string, tokenSet: boolean, answer: string): string {
  const why = answer.trim().slice(0, 200)
  return tokenSet
    ? `${system} at ${addr} refused the token in ${variable} (${why}): it is wrong, expired, or lacks the permission this needs`
    : `${system} at ${addr} needs a token (${why}): set ${variable}`
}

/** The answer's status and text; undefined when the system cannot be reached (the controller waits for it as usual). */
async function ask(fetchFn: typeof fetch, url: string, headers: Record<string, string>): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetchFn(url, { headers, signal: AbortSignal.timeout(10_000) })
    return { status: res.status, text: await res.text() }
  } catch {
    return undefined
  }
}

const refused = (answer: { status: number } | undefined) => answer !== undefined && (answer.status === 401 || answer.status === 403)

/**
 * Reads what the controller reads first (its apps prefix, the job list) with
 * its tokens; throws TokenRefusedError when one is refused. A system that does
 * not answer is not an error here: the controller starts and waits for it.
 */
export async function checkTokens(settings: TokenSettings, fetchFn: typeof fetch = fetch): Promise<void> {
  const consul = await ask(fetchFn, `${settings.consulAddr}/v1/kv/${settings.appsPrefix}?keys`, settings.consulToken ? { 'x-consul-token': settings.consulToken } : {})
  if (refused(consul))
    throw new TokenRefusedError('CONSUL_HTTP_TOKEN', refusal('CONSUL_HTTP_TOKEN', 'Consul', settings.consulAddr, Boolean(settings.consulToken), consul!.text))
  const nomad = await ask(fetchFn, `${settings.nomadAddr}/v1/jobs?prefix=lean-token-check-&namespace=${encodeURIComponent(settings.nomadNamespace)}`, settings.nomadToken ? { 'x-nomad-token': settings.nomadToken } : {})
  if (refused(nomad)) throw new TokenRefusedError('NOMAD_TOKEN', refusal('NOMAD_TOKEN', 'Nomad', settings.nomadAddr, Boolean(settings.nomadToken), nomad!.text))
}
