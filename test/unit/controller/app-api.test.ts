// The app write API (PUT/DELETE /v1/apps/:name, POST …/validate) and GET's
// addresses, on an in-memory Consul KV with Consul's check-and-set rule and a
// stubbed Nomad.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Allocation, AllocationListStub } from '../../../generated/nomad/types.ts'
import { api, APPS, MemoryKv, quietNomad } from './stubs.ts'

const service = { kind: 'wasm-service', component: { sha256: 'cd'.repeat(32) }, count: 2 }
const writer = { 'x-consul-token': 'operator' }
const send = (method: 'PUT' | 'DELETE' | 'POST', url: string, body?: unknown, ifMatch?: string) => ({
  method,
  url,
  ...(body !== undefined && { payload: JSON.stringify(body) }),
  headers: {
    ...(body !== undefined && { 'content-type': 'application/json' }),
    ...writer,
    ...(ifMatch !== undefined && { 'if-match': ifMatch }),
  },
})

test('PUT creates (201), replaces (200) and leaves an equal document alone; any kind', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const created = await app.inject(send('PUT', '/v1/apps/pdf', service))
  assert.equal(created.statusCode, 201)
  const first = created.json() as { specIndex: number }
  assert.deepEqual(created.json(), {
    name: 'pdf',
    specIndex: kv.data.get(`${APPS}pdf`)!.modifyIndex,
    created: true,
    changed: true,
  })
  assert.deepEqual(JSON.parse(kv.data.get(`${APPS}pdf`)!.value), service)

  const same = await app.inject(send('PUT', '/v1/apps/pdf', service))
  assert.deepEqual(
    [same.statusCode, same.json().specIndex, same.json().changed],
    [200, first.specIndex, false],
  )

  const replaced = await app.inject(
    send('PUT', '/v1/apps/pdf', { ...service, count: 3 }, String(first.specIndex)),
  )
  assert.equal(replaced.statusCode, 200)
  assert.ok(replaced.json().specIndex > first.specIndex)
  assert.equal(JSON.parse(kv.data.get(`${APPS}pdf`)!.value).count, 3)

  const vm = await app.inject(
    send('PUT', '/v1/apps/web', { kind: 'vm', image: { sha256: 'ab'.repeat(32) } }, '0'),
  )
  assert.equal(vm.statusCode, 201)
})

test('PUT refuses a bad document with 400 naming the field, as the validator words it, before writing', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const cases: Array<[unknown, string, string]> = [
    [{ ...service, count: -1 }, 'count', 'expected a whole number from 0 to 1000'],
    [
      { ...service, resources: { cpu: 100, memoryMB: 1 } },
      'resources.memoryMB',
      'expected a whole number from 16 to 1048576',
    ],
    [
      { ...service, colour: 'blue' },
      'colour',
      'unknown field (allowed: kind, component, count, port, service, instances, grants, limits, env, resources, ingress, spread, constraints)',
    ],
    [{ ...service, kind: 'job' }, 'kind', 'expected "wasm-service", got "job" (the other kind is "vm")'],
    [[1], '$', 'expected a JSON object (the app document)'],
  ]
  for (const [body, field, reason] of cases) {
    const res = await app.inject(send('PUT', '/v1/apps/pdf', body))
    assert.equal(res.statusCode, 400, JSON.stringify(body))
    assert.deepEqual(res.json(), {
      code: 'LEAN_ERR_SPEC_INVALID',
      message: `${field}: ${reason}`,
      field,
      reason,
    })
  }
  const badName = await app.inject(send('PUT', '/v1/apps/Pdf_1', service))
  assert.deepEqual([badName.statusCode, badName.json().field], [400, 'name'])
  assert.equal(kv.data.size, 0)
})

test('If-Match is a check-and-set: a change made since is reported (412), never overwritten', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const first = (await app.inject(send('PUT', '/v1/apps/pdf', service, '0'))).json() as { specIndex: number }
  const exists = await app.inject(send('PUT', '/v1/apps/pdf', service, '0'))
  assert.equal(exists.statusCode, 412)
  assert.equal(exists.json().code, 'LEAN_ERR_APP_PRECONDITION')
  // A hand edit between a client's read and its write.
  const edited = kv.put(`${APPS}pdf`, JSON.stringify({ ...service, count: 5 }))
  const stale = await app.inject(
    send('PUT', '/v1/apps/pdf', { ...service, count: 4 }, String(first.specIndex)),
  )
  assert.equal(stale.statusCode, 412)
  assert.equal(
    stale.json().message,
    `app pdf: If-Match ${first.specIndex} does not hold (its specIndex is ${edited.modifyIndex}); nothing was written`,
  )
  assert.equal(JSON.parse(kv.data.get(`${APPS}pdf`)!.value).count, 5)
  // Lost between the read and the check-and-set: still 412 with If-Match.
  let races = 1
  kv.beforeWrite = (key) => void (races-- > 0 && kv.put(key, JSON.stringify({ ...service, count: 6 })))
  const raced = await app.inject(
    send('PUT', '/v1/apps/pdf', { ...service, count: 7 }, String(edited.modifyIndex)),
  )
  assert.equal(raced.statusCode, 412)
  assert.equal(JSON.parse(kv.data.get(`${APPS}pdf`)!.value).count, 6)
  const badHeader = await app.inject(send('PUT', '/v1/apps/pdf', service, 'latest'))
  assert.deepEqual([badHeader.statusCode, badHeader.json().code], [400, 'LEAN_ERR_API_REQUEST'])
})

test('DELETE with If-Match removes the document only at that index; 404 when absent', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const { specIndex } = (await app.inject(send('PUT', '/v1/apps/pdf', service))).json() as {
    specIndex: number
  }
  const stale = await app.inject(send('DELETE', '/v1/apps/pdf', undefined, String(specIndex - 1)))
  assert.equal(stale.statusCode, 412)
  assert.ok(kv.data.has(`${APPS}pdf`))
  const removed = await app.inject(send('DELETE', '/v1/apps/pdf', undefined, String(specIndex)))
  assert.equal(removed.statusCode, 204)
  assert.equal(kv.data.has(`${APPS}pdf`), false)
  const gone = await app.inject(send('DELETE', '/v1/apps/pdf'))
  assert.deepEqual([gone.statusCode, gone.json().code], [404, 'LEAN_ERR_APP_NOT_FOUND'])
})

test('POST …/validate runs the validator alone and writes nothing; a token is still required', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const ok = await app.inject(send('POST', '/v1/apps/pdf/validate', service))
  assert.deepEqual([ok.statusCode, ok.json()], [200, { name: 'pdf', valid: true }])
  const bad = await app.inject(send('POST', '/v1/apps/pdf/validate', { ...service, port: { static: 0 } }))
  assert.deepEqual(
    [bad.statusCode, bad.json().field, bad.json().reason],
    [400, 'port.static', 'expected a whole number from 1 to 65535'],
  )
  const anonymous = await app.inject({
    method: 'POST',
    url: '/v1/apps/pdf/validate',
    payload: JSON.stringify(service),
    headers: { 'content-type': 'application/json' },
  })
  assert.deepEqual([anonymous.statusCode, anonymous.json().code], [401, 'LEAN_ERR_TOKEN_REQUIRED'])
  assert.equal(kv.data.size, 0)
})

test("GET /v1/apps/:name adds the running allocations' addresses, or why Nomad could not say", async () => {
  const kv = new MemoryKv()
  kv.put(`${APPS}pdf`, JSON.stringify(service))
  const stubs: AllocationListStub[] = [
    { ID: 'a1', Name: 'pdf.pdf[0]', ClientStatus: 'running', DesiredStatus: 'run' },
    { ID: 'a2', Name: 'pdf.pdf[1]', ClientStatus: 'pending', DesiredStatus: 'run' },
  ]
  const alloc: Allocation = {
    AllocatedResources: { Shared: { Ports: [{ Label: 'http', HostIP: '127.0.0.1', Value: 23456 }] } },
  }
  const nomad = quietNomad({
    allocations: async () => stubs,
    allocation: async (id) => (id === 'a1' ? alloc : undefined),
  })
  const res = await api({ kv, nomad }).inject({ method: 'GET', url: '/v1/apps/pdf', headers: writer })
  assert.equal(res.statusCode, 200)
  assert.deepEqual(res.json().addresses, ['127.0.0.1:23456'])
  const down = quietNomad({ allocations: async () => Promise.reject(new Error('connection refused')) })
  const without = await api({ kv, nomad: down }).inject({
    method: 'GET',
    url: '/v1/apps/pdf',
    headers: writer,
  })
  assert.deepEqual(
    [without.statusCode, without.json().addresses, without.json().runtimeError],
    [200, [], 'Nomad failed: connection refused'],
  )
  assert.deepEqual(without.json().spec, service)
})
