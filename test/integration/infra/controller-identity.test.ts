// The cloud's controller has least-privilege tokens (cloud.env's
// LEAN_CONTROLLER_CONSUL_TOKEN and LEAN_CONTROLLER_NOMAD_TOKEN): it reads
// desired state, writes status, and runs jobs in the managed namespace, and
// Consul and Nomad themselves refuse it anything else.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { useCloud } from '../../harness/cloud.ts'
import { consul } from '../../harness/consul-http.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'

test("the controller's Consul token reads desired state, writes status, and nothing else", async (t) => {
  const { config, env } = await useCloud()
  const addr = env.CONSUL_HTTP_ADDR!
  const token = env.LEAN_CONTROLLER_CONSUL_TOKEN!
  assert.ok(token, 'cloud.env names the controller token')
  const { appsPrefix, statusPrefix } = config.controller
  const name = uniqueName('identity')
  const other = `${uniqueName('elsewhere')}/secret`
  // The operator (CONSUL_HTTP_TOKEN) writes desired state and a key elsewhere.
  await consul(addr, 'PUT', `/v1/kv/${appsPrefix}${name}`, { kind: 'wasm-service' })
  await consul(addr, 'PUT', `/v1/kv/${other}`, 'not for the controller')
  t.after(async () => {
    for (const key of [`${appsPrefix}${name}`, `${statusPrefix}${name}`, other])
      await consul(addr, 'DELETE', `/v1/kv/${key}`).catch(() => {})
  })
  const asController = (method: string, key: string, body?: string) =>
    fetch(`${addr}/v1/kv/${key}`, {
      method,
      headers: { 'x-consul-token': token },
      ...(body !== undefined && { body }),
    })

  assert.equal((await asController('GET', `${appsPrefix}${name}`)).status, 200, 'reads desired state')
  assert.equal(
    (await asController('PUT', `${statusPrefix}${name}`, '{"phase":"running"}')).status,
    200,
    'writes status',
  )
  const write = await asController('PUT', `${appsPrefix}${name}`, '{"kind":"vm"}')
  assert.equal(write.status, 403, 'may not write desired state')
  assert.match(await write.text(), /Permission denied/)
  assert.equal(
    (await asController('DELETE', `${appsPrefix}${name}`)).status,
    403,
    'may not delete desired state',
  )
  assert.equal((await asController('GET', other)).status, 403, 'may not read another prefix')
  assert.equal((await asController('PUT', other, 'x')).status, 403, 'may not write another prefix')
  assert.deepEqual(
    await consul(addr, 'GET', `/v1/kv/${appsPrefix}${name}?raw`),
    { kind: 'wasm-service' },
    'the document is unchanged',
  )
})

test("the controller's Nomad token runs wasm and virt jobs in the managed namespace only, and no command", async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const token = env.LEAN_CONTROLLER_NOMAD_TOKEN!
  assert.ok(token, 'cloud.env names the controller token')
  const namespace = config.controller.namespace
  assert.equal(env.NOMAD_NAMESPACE, namespace)
  const id = uniqueName('identity-job')
  // Placed nowhere: registering is what is under test, not running.
  const jobOf = (driver: string, config: Record<string, unknown>) => ({
    ID: id,
    Name: id,
    Type: 'batch',
    Datacenters: ['nowhere'],
    TaskGroups: [
      {
        Name: 'once',
        Count: 1,
        Tasks: [{ Name: 'task', Driver: driver, Config: config, Resources: { CPU: 20, MemoryMB: 16 } }],
      },
    ],
  })
  const rootShell = jobOf('raw_exec', { command: '/usr/bin/id' })
  const wasm = jobOf('wasm', { component: 's3://artifacts/components/x.wasm' })
  const asController = (method: string, path: string, body?: unknown) =>
    fetch(`${addr}${path}`, {
      method,
      headers: { 'x-nomad-token': token },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
  t.after(() => nomad(addr, 'DELETE', `/v1/job/${id}?purge=true&namespace=${namespace}`).catch(() => {}))

  // Another namespace that exists (an unknown one is refused for that reason alone), and the cloud's system namespace.
  const other = uniqueName('other')
  await nomad(addr, 'PUT', `/v1/namespace/${other}`, { Name: other })
  t.after(() => nomad(addr, 'DELETE', `/v1/namespace/${other}`).catch(() => {}))
  // Each with a driver that namespace allows, so that the token is what is refused.
  for (const [outside, allowed] of [
    ['default', wasm],
    [other, wasm],
    [config.nomad.systemNamespace, rootShell],
  ] as const) {
    const res = await asController('PUT', `/v1/jobs?namespace=${outside}`, {
      Job: { ...allowed, Namespace: outside },
    })
    assert.equal(res.status, 403, `registering in namespace ${outside}`)
    assert.equal(
      (await asController('GET', `/v1/jobs?namespace=${outside}`)).status,
      403,
      `listing namespace ${outside}`,
    )
  }
  // In its own namespace, a command (raw_exec, exec, docker, ...) is refused by the namespace itself.
  for (const driver of ['raw_exec', 'exec', 'docker', 'qemu', 'java']) {
    const res = await asController('PUT', `/v1/jobs?namespace=${namespace}`, {
      Job: { ...jobOf(driver, { command: '/usr/bin/id' }), Namespace: namespace },
    })
    const text = await res.text()
    assert.notEqual(res.status, 200, `a ${driver} job in ${namespace}: ${text}`)
    assert.match(
      text,
      new RegExp(`${driver}.*not allowed|not allowed.*${driver}`, 'i'),
      `a ${driver} job in ${namespace}`,
    )
  }
  assert.equal(
    await nomad(addr, 'GET', `/v1/job/${id}?namespace=${namespace}`).catch(() => undefined),
    undefined,
    'nothing was registered',
  )
  const inside = await asController('PUT', `/v1/jobs?namespace=${namespace}`, { Job: wasm })
  assert.equal(inside.status, 200, await inside.text())
  const stored = await nomad<{ Namespace: string }>(addr, 'GET', `/v1/job/${id}?namespace=${namespace}`)
  assert.equal(stored.Namespace, namespace)
  assert.equal(
    (await asController('DELETE', `/v1/job/${id}?namespace=${namespace}&purge=true`)).status,
    200,
    'stops its own jobs',
  )
  // Nothing beyond jobs: no ACL administration, no agent operations.
  assert.equal((await asController('GET', '/v1/acl/tokens')).status, 403, 'listing tokens')
  const ns = uniqueName('ns')
  assert.equal(
    (await asController('PUT', `/v1/namespace/${ns}`, { Name: ns })).status,
    403,
    'making a namespace',
  )

  // Even the management token cannot run raw_exec outside the system namespace.
  const managed = await fetch(`${addr}/v1/jobs?namespace=default`, {
    method: 'PUT',
    headers: { 'x-nomad-token': env.NOMAD_TOKEN! },
    body: JSON.stringify({ Job: { ...rootShell, Namespace: 'default' } }),
  })
  const said = await managed.text()
  assert.notEqual(managed.status, 200, said)
  assert.match(said, /raw_exec.*not allowed|not allowed.*raw_exec/i)
})
