import assert from 'node:assert/strict'
import { Resolver } from 'node:dns/promises'
import { test } from 'node:test'
import { createConsul } from '../../../controller/consul-client.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'

test('a registered service resolves through Consul DNS (A and SRV)', async (t) => {
  const { env } = await useCloud()
  const consul = createConsul(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const name = uniqueName('dns')
  await consul.agent.service.register({ name, id: name, address: '127.0.0.42', port: 18_123 })
  t.after(() => consul.agent.service.deregister(name))

  const resolver = new Resolver({ timeout: 2000, tries: 1 })
  resolver.setServers([env.CONSUL_DNS_ADDR!])

  const srv = await waitFor(async () => (await resolver.resolveSrv(`${name}.service.consul`))[0], {
    timeoutMs: 60_000,
    what: `SRV record of ${name}.service.consul`,
  })
  assert.equal(srv.port, 18_123)
  assert.match(srv.name, /\.consul$/)

  assert.deepEqual(await resolver.resolve4(`${name}.service.consul`), ['127.0.0.42'])
  // The SRV target is the node name; Consul answers its A record as well.
  assert.ok((await resolver.resolve4(srv.name)).length > 0)
})
