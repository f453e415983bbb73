// Consul on the cloud denies by default: without a token nothing may be
// written or read beyond the service catalog (which DNS answers from), and a
// wrong token is refused too.
import assert from 'node:assert/strict'
import { Resolver } from 'node:dns/promises'
import { readFile, stat } from 'node:fs/promises'
import { test } from 'node:test'
import { layout } from '../../../infra/cloud/config.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { consul } from '../../harness/consul-http.ts'
import { uniqueName } from '../../harness/names.ts'
import { runProjectCommand } from '../../harness/project-command.ts'

test('Consul refuses requests without a valid token, and DNS still answers', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.CONSUL_HTTP_ADDR!
  const key = `lean-cloud-test/acl/${uniqueName('k')}`
  t.after(() => consul(addr, 'DELETE', `/v1/kv/${key}`).catch(() => {}))

  const anonymous = (method: string, path: string, token?: string, body?: string) =>
    fetch(`${addr}${path}`, {
      method,
      ...(token && { headers: { 'x-consul-token': token } }),
      ...(body !== undefined && { body }),
    })
  assert.equal(
    (await anonymous('PUT', `/v1/kv/${key}`, undefined, 'x')).status,
    403,
    'KV write without a token',
  )
  assert.equal(
    (await anonymous('PUT', `/v1/kv/${key}`, '00000000-1111-2222-3333-444444444444', 'x')).status,
    403,
    'a wrong token',
  )
  assert.equal((await anonymous('GET', '/v1/acl/tokens')).status, 403, 'listing tokens')
  // The cloud's token (cloud.env) may; without it the key cannot be read, and a listing leaves it out.
  assert.equal(await consul(addr, 'PUT', `/v1/kv/${key}`, 'x'), true)
  assert.equal((await anonymous('GET', `/v1/kv/${key}`)).status, 403, 'KV read without a token')
  const listing = await anonymous('GET', '/v1/kv/lean-cloud-test/acl/?keys')
  assert.ok(
    !(listing.ok && (await listing.text()).includes(key)),
    'a listing without a token leaves the key out',
  )

  // The agent's config holds the management token and the gossip key: owner-only.
  const agentConfig = `${layout(config).consulData}.json`
  assert.equal((await stat(agentConfig)).mode & 0o777, 0o600)
  const parsed = JSON.parse(await readFile(agentConfig, 'utf8')) as {
    acl: { default_policy: string }
    encrypt: string
  }
  assert.equal(parsed.acl.default_policy, 'deny')
  assert.equal(Buffer.from(parsed.encrypt, 'base64').length, 32)

  // DNS answers with the agent's default token, which may read services and nodes.
  const name = uniqueName('acl-dns')
  await consul(addr, 'PUT', '/v1/agent/service/register', {
    Name: name,
    ID: name,
    Address: '127.0.0.43',
    Port: 18_124,
  })
  t.after(() => consul(addr, 'PUT', `/v1/agent/service/deregister/${name}`).catch(() => {}))
  const resolver = new Resolver({ timeout: 2000, tries: 1 })
  resolver.setServers([env.CONSUL_DNS_ADDR!])
  const srv = await waitFor(
    async () => (await resolver.resolveSrv(`${name}.service.consul`).catch(() => []))[0],
    { timeoutMs: 60_000, what: `SRV of ${name}` },
  )
  assert.equal(srv.port, 18_124)
  assert.deepEqual(await resolver.resolve4(`${name}.service.consul`), ['127.0.0.43'])
})

test('a wrong Consul token stops the controller and leanctl with a message naming CONSUL_HTTP_TOKEN', async () => {
  const { env } = await useCloud()
  const wrong = {
    ...process.env,
    ...env,
    CONSUL_HTTP_TOKEN: '00000000-1111-2222-3333-444444444444',
    LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:0',
  }
  const controller = await runProjectCommand('controller/main.ts', [], wrong)
  assert.equal(controller.code, 2, controller.output)
  assert.match(controller.output, /refused the token in CONSUL_HTTP_TOKEN \(ACL not found\)/)
  assert.doesNotMatch(controller.output, /\n\s+at /, 'no stack trace')

  const leanctl = await runProjectCommand('cli/leanctl.ts', ['status'], wrong)
  assert.notEqual(leanctl.code, 0)
  assert.match(leanctl.output, /CONSUL_HTTP_TOKEN/)
  assert.doesNotMatch(leanctl.output, /\n\s+at /, 'no stack trace')
})

test("Nomad's own Consul token reads the agent and registers services, and nothing more: no key, no ACL, no other token's work", async () => {
  const { config } = await useCloud()
  const nomadToken = (
    JSON.parse(await readFile(layout(config).credentials, 'utf8')) as { consulNomadToken: string }
  ).consulNomadToken
  const agentConfig = await readFile(layout(config).nomadConfig, 'utf8')
  assert.match(
    agentConfig,
    new RegExp(`consul \\{[^}]*token\\s+= "${nomadToken}"`),
    'Nomad reaches Consul with its own token',
  )
  const addr = `https://${config.host}:${config.consul.httpPort}`
  const as = (method: string, path: string, body?: string) =>
    fetch(`${addr}${path}`, {
      method,
      headers: { 'x-consul-token': nomadToken },
      ...(body !== undefined && { body }),
    })
  assert.equal(
    (await as('GET', '/v1/agent/self')).status,
    200,
    'it reads the agent (Nomad fingerprints Consul with it)',
  )
  assert.equal((await as('GET', '/v1/catalog/services')).status, 200, 'it reads the catalog')
  for (const [method, path, body] of [
    ['GET', `/v1/kv/${config.controller.appsPrefix}?recurse`],
    ['PUT', '/v1/kv/lean-cloud-test/nomad-may-not', 'x'],
    ['GET', '/v1/acl/tokens'],
    [
      'PUT',
      '/v1/acl/token',
      JSON.stringify({ Description: 'escalate', Policies: [{ Name: 'global-management' }] }),
    ],
    ['PUT', '/v1/session/create', '{}'],
  ] as const) {
    const res = await as(method, path, body)
    assert.ok(
      res.status === 403 || (res.status === 404 && method === 'GET' && path.includes('?recurse')),
      `${method} ${path} with Nomad's token: ${res.status}`,
    )
  }
})
