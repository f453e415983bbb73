import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkTokens, TokenRefusedError } from '../../../controller/token-check.ts'

const settings = { consulAddr: 'http://consul:8500', nomadAddr: 'http://nomad:4646', appsPrefix: 'lean-cloud/apps/', nomadNamespace: 'lean' }

/** A fetch that answers by host, and records the token headers it was sent. */
function answering(byHost: Record<string, [number, string]>, seen: Array<Record<string, string>> = []): typeof fetch {
  return (async (url: string | URL, init?: RequestInit) => {
    seen.push({ ...(init?.headers as Record<string, string>) })
    const [status, body] = byHost[new URL(String(url)).hostname]!
    return new Response(body, { status })
  }) as typeof fetch
}

test('tokens both systems accept pass, and each goes to its own system', async () => {
  const seen: Array<Record<string, string>> = []
  await checkTokens({ ...settings, consulToken: 'c-token', nomadToken: 'n-token' }, answering({ consul: [200, '[]'], nomad: [200, '[]'] }, seen))
  assert.deepEqual(seen, [{ 'x-consul-token': 'c-token' }, { 'x-nomad-token': 'n-token' }])
  // Without ACLs, Consul answers 404 for an empty prefix: fine too.
  await checkTokens(settings, answering({ consul: [404, ''], nomad: [200, '[]'] }))
})

test('a refused token names its variable and what the system said', async () => {
  await assert.rejects(
    checkTokens({ ...settings, consulToken: 'old' }, answering({ consul: [403, 'ACL not found'], nomad: [200, '[]'] })),
    (err: unknown) =>
      err instanceof TokenRefusedError &&
      err.variable === 'CONSUL_HTTP_TOKEN' &&
      /Consul at http:\/\/consul:8500 refused the token in CONSUL_HTTP_TOKEN \(ACL not found\)/.test(err.message),
  )
  await assert.rejects(
    checkTokens(settings, answering({ consul: [200, '[]'], nomad: [403, 'Permission denied'] })),
    (err: unknown) => err instanceof TokenRefusedError && err.variable === 'NOMAD_TOKEN' && /needs a token \(Permission denied\): set NOMAD_TOKEN/.test(err.message),
  )
})

test('a system that does not answer is left to the controller to wait for', async () => {
  await checkTokens(settings, (async () => {
    throw new TypeError('fetch failed')
  }) as typeof fetch)
})
