// The VM API's handlers on an in-memory Consul KV with Consul's check-and-set
// rule (so lost races are tested without a race) and a stubbed Nomad.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Allocation, AllocationListStub } from '../../../generated/nomad/types.ts'
import { api, APPS, MemoryKv, quietNomad, STATUS } from './stubs.ts'

const sha256 = 'ab'.repeat(32)
const vm = { image: { sha256 }, ports: { http: 8080 }, service: { port: 'http', checkPath: '/' } }
// Writes carry the caller's token (the in-memory KV lets any token write).
const writer = { 'x-consul-token': 'operator' }
const json = (body: unknown) => ({
  payload: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...writer },
})

test('PUT creates (201), replaces (200) and leaves an equal document alone; kind may be left out', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const created = await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json(vm) })
  assert.equal(created.statusCode, 201)
  const { specIndex } = created.json() as { specIndex: number }
  assert.deepEqual(created.json(), { name: 'web', specIndex: kv.data.get(`${APPS}web`)!.modifyIndex })
  const stored = kv.data.get(`${APPS}web`)!.value
  assert.deepEqual(Object.keys(JSON.parse(stored)), ['kind', 'image', 'ports', 'service'])
  assert.equal(JSON.parse(stored).kind, 'vm')

  const same = await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json({ kind: 'vm', ...vm }) })
  assert.equal(same.statusCode, 200)
  assert.equal(same.json().specIndex, specIndex, 'nothing written')

  const replaced = await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json({ ...vm, vcpus: 2 }) })
  assert.equal(replaced.statusCode, 200)
  assert.ok(replaced.json().specIndex > specIndex)
  assert.equal(JSON.parse(kv.data.get(`${APPS}web`)!.value).vcpus, 2)
})

test('PUT refuses a bad document with 400 naming the field, before anything is written', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const cases: Array<[unknown, string, RegExp]> = [
    [{ ...vm, vcpus: 0 }, 'vcpus', /^vcpus: expected a whole number from 1 to 64/],
    [{ ...vm, image: { sha256: 'nope' } }, 'image.sha256', /^image\.sha256: expected 64/],
    [{ ...vm, bridge: 'virbr0' }, 'bridge', /^bridge: unknown field/],
    [{ ...vm, kind: 'wasm-service' }, 'kind', /^kind: expected "vm" or no kind/],
    [[1, 2], '$', /^\$: expected a JSON object/],
  ]
  for (const [body, field, message] of cases) {
    const res = await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json(body) })
    assert.equal(res.statusCode, 400, JSON.stringify(body))
    assert.equal(res.json().code, 'LEAN_ERR_SPEC_INVALID')
    assert.equal(res.json().field, field)
    assert.match(res.json().message, message)
  }
  const badName = await app.inject({ method: 'PUT', url: '/v1/vms/Web_1', ...json(vm) })
  assert.deepEqual([badName.statusCode, badName.json().field], [400, 'name'])
  const notJson = await app.inject({
    method: 'PUT',
    url: '/v1/vms/web',
    payload: '{nope',
    headers: { 'content-type': 'application/json', ...writer },
  })
  assert.deepEqual([notJson.statusCode, notJson.json().code], [400, 'LEAN_ERR_API_REQUEST'])
  assert.equal(kv.data.size, 0)
})

test('If-Match: the caller\'s own check-and-set; 0 means "must not exist yet"', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const put = (ifMatch: string) =>
    app.inject({
      method: 'PUT',
      url: '/v1/vms/web',
      ...json(vm),
      headers: { 'content-type': 'application/json', ...writer, 'if-match': ifMatch },
    })
  const first = await put('0')
  assert.equal(first.statusCode, 201)
  const again = await put('0')
  assert.equal(again.statusCode, 412)
  assert.equal(again.json().code, 'LEAN_ERR_APP_PRECONDITION')
  assert.match(again.json().message, /If-Match 0 does not hold \(its specIndex is \d+\); nothing was written/)
  const index = String(first.json().specIndex)
  const replaced = await app.inject({
    method: 'PUT',
    url: '/v1/vms/web',
    ...json({ ...vm, count: 2 }),
    headers: { 'content-type': 'application/json', ...writer, 'if-match': `"${index}"` },
  })
  assert.equal(replaced.statusCode, 200)
  assert.equal((await put(index)).statusCode, 412, 'the index it was based on moved')
  const bad = await put('yesterday')
  assert.deepEqual([bad.statusCode, bad.json().code], [400, 'LEAN_ERR_API_REQUEST'])
  const stop = await app.inject({
    method: 'POST',
    url: '/v1/vms/web/stop',
    headers: { ...writer, 'if-match': index },
  })
  assert.equal(stop.statusCode, 412)
  const del = await app.inject({
    method: 'DELETE',
    url: '/v1/vms/web',
    headers: { ...writer, 'if-match': index },
  })
  assert.equal(del.statusCode, 412)
  assert.ok(kv.data.has(`${APPS}web`))
})

test('a write that loses a race reads again; with If-Match it answers 412; always losing is 409', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json(vm) })
  let races = 1
  kv.beforeWrite = (key) => void (races-- > 0 && kv.put(key, kv.data.get(key)!.value))
  const stop = await app.inject({ method: 'POST', url: '/v1/vms/web/stop', headers: writer })
  assert.equal(stop.statusCode, 200)
  assert.equal(JSON.parse(kv.data.get(`${APPS}web`)!.value).state, 'stopped')

  const index = String(kv.data.get(`${APPS}web`)!.modifyIndex)
  races = 1
  const start = await app.inject({
    method: 'POST',
    url: '/v1/vms/web/start',
    headers: { ...writer, 'if-match': index },
  })
  assert.equal(start.statusCode, 412)

  kv.beforeWrite = (key) => void kv.put(key, kv.data.get(key)!.value)
  const busy = await app.inject({ method: 'POST', url: '/v1/vms/web/start', headers: writer })
  assert.deepEqual([busy.statusCode, busy.json().code], [409, 'LEAN_ERR_APP_CONFLICT'])
  const del = await app.inject({ method: 'DELETE', url: '/v1/vms/web', headers: writer })
  assert.deepEqual([del.statusCode, del.json().code], [409, 'LEAN_ERR_APP_CONFLICT'])
})

test('start and stop set the desired state and are idempotent; delete removes the key', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json(vm) })
  const state = () => JSON.parse(kv.data.get(`${APPS}web`)!.value).state
  const stop = await app.inject({ method: 'POST', url: '/v1/vms/web/stop', headers: writer })
  assert.equal(stop.statusCode, 200)
  assert.deepEqual(
    { ...stop.json<object>(), specIndex: 0 },
    { name: 'web', specIndex: 0, state: 'stopped', changed: true },
  )
  assert.equal(state(), 'stopped')
  const again = await app.inject({ method: 'POST', url: '/v1/vms/web/stop', headers: writer })
  assert.deepEqual([again.json().changed, again.json().specIndex], [false, stop.json().specIndex])
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/vms/web/start', headers: writer })).json().changed,
    true,
  )
  assert.equal(state(), 'running')
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/vms/nope/start', headers: writer })).statusCode,
    404,
  )

  const del = await app.inject({ method: 'DELETE', url: '/v1/vms/web', headers: writer })
  assert.equal(del.statusCode, 204)
  assert.equal(kv.data.has(`${APPS}web`), false)
  const gone = await app.inject({ method: 'DELETE', url: '/v1/vms/web', headers: writer })
  assert.deepEqual([gone.statusCode, gone.json().code], [404, 'LEAN_ERR_APP_NOT_FOUND'])
})

test('an app of another kind is left alone: 409 to replace, start or delete it; not listed', async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  const wasm = JSON.stringify({ kind: 'wasm-service', component: { sha256 } })
  kv.put(`${APPS}pdf`, wasm)
  for (const [method, url] of [
    ['PUT', '/v1/vms/pdf'],
    ['POST', '/v1/vms/pdf/stop'],
    ['DELETE', '/v1/vms/pdf'],
    ['GET', '/v1/vms/pdf'],
  ] as const) {
    const res = await app.inject({ method, url, headers: writer, ...(method === 'PUT' && json(vm)) })
    assert.equal(res.statusCode, 409, `${method} ${url}`)
    assert.equal(res.json().code, 'LEAN_ERR_APP_KIND')
    assert.match(res.json().message, /app pdf is a "wasm-service" app, not a vm/)
  }
  assert.equal(kv.data.get(`${APPS}pdf`)!.value, wasm)
  await app.inject({ method: 'PUT', url: '/v1/vms/web', ...json(vm) })
  const list = await app.inject({ method: 'GET', url: '/v1/vms', headers: writer })
  assert.deepEqual(
    list.json().vms.map((v: { name: string }) => v.name),
    ['web'],
  )
})

test('GET one: spec, status and each current allocation with accelerator, ports and console tail', async () => {
  const kv = new MemoryKv()
  kv.put(`${APPS}web`, JSON.stringify({ kind: 'vm', ...vm }))
  kv.put(`${STATUS}web`, JSON.stringify({ name: 'web', phase: 'running', healthy: 1, desired: 1 }))
  const stub: AllocationListStub = {
    ID: 'a1',
    Name: 'web.web[0]',
    NodeID: 'n1',
    NodeName: 'node-1',
    JobID: 'web',
    DesiredStatus: 'run',
    ClientStatus: 'running',
    TaskStates: {
      web: {
        State: 'running',
        StartedAt: '2026-01-01T00:00:00Z',
        Events: [{ Type: 'Started', DisplayMessage: 'Task started by client' }],
      },
    },
  }
  const old: AllocationListStub = {
    ID: 'a0',
    Name: 'web.web[0]',
    JobID: 'web',
    DesiredStatus: 'stop',
    ClientStatus: 'complete',
  }
  const alloc: Allocation = {
    ID: 'a1',
    AllocatedResources: {
      Shared: { Ports: [{ Label: 'http', Value: 26001, To: 8080, HostIP: '127.0.0.1' }] },
    },
  }
  const logs: string[] = []
  const nomad = quietNomad({
    allocations: async () => [old, stub],
    allocation: async (id) => (id === 'a1' ? alloc : undefined),
    node: async () => ({ ID: 'n1', Attributes: { 'driver.virt.accelerator': 'tcg' } }),
    taskLogTail: async (id, task, type, bytes) => {
      logs.push(`${id} ${task} ${type} ${bytes}`)
      return 'booting\nREADY\n'
    },
  })
  const res = await api({ kv, nomad }).inject({ method: 'GET', url: '/v1/vms/web', headers: writer })
  assert.equal(res.statusCode, 200)
  const view = res.json()
  assert.equal(view.spec.kind, 'vm')
  assert.equal(view.status.phase, 'running')
  assert.deepEqual(view.allocations, [
    {
      id: 'a1',
      clientStatus: 'running',
      desiredStatus: 'run',
      taskState: 'running',
      lastEvent: 'Started: Task started by client',
      node: 'node-1',
      accelerator: 'tcg',
      address: '127.0.0.1',
      ports: { http: '127.0.0.1:26001' },
      console: ['booting', 'READY'],
    },
  ])
  assert.deepEqual(logs, ['a1 web stdout 4096'])
  assert.equal(view.runtimeError, undefined)
})

test('GET: Nomad down still shows spec and status, with the reason; an unknown vm is 404', async () => {
  const kv = new MemoryKv()
  kv.put(`${APPS}web`, JSON.stringify({ kind: 'vm', ...vm }))
  const down = async (): Promise<never> => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:4646')
  }
  const app = api({ kv, nomad: quietNomad({ allocations: down, allAllocations: down }) })
  const one = await app.inject({ method: 'GET', url: '/v1/vms/web', headers: writer })
  assert.equal(one.statusCode, 200)
  assert.deepEqual(one.json().allocations, [])
  assert.equal(one.json().runtimeError, 'Nomad failed: connect ECONNREFUSED 127.0.0.1:4646')
  const list = await app.inject({ method: 'GET', url: '/v1/vms', headers: writer })
  assert.equal(list.json().vms[0].runtimeError, 'Nomad failed: connect ECONNREFUSED 127.0.0.1:4646')
  const missing = await app.inject({ method: 'GET', url: '/v1/vms/nope', headers: writer })
  assert.deepEqual([missing.statusCode, missing.json().code], [404, 'LEAN_ERR_APP_NOT_FOUND'])
})

test('GET list: allocation summaries from one listing, per vm', async () => {
  const kv = new MemoryKv()
  kv.put(`${APPS}a`, JSON.stringify({ kind: 'vm', ...vm }))
  kv.put(`${APPS}b`, JSON.stringify({ kind: 'vm', ...vm, state: 'stopped' }))
  const nomad = quietNomad({
    allAllocations: async () => ({
      index: 5,
      allocations: [
        {
          ID: 'x',
          Name: 'a.a[0]',
          JobID: 'a',
          NodeID: 'n1',
          NodeName: 'node-1',
          DesiredStatus: 'run',
          ClientStatus: 'pending',
        },
        { ID: 'y', Name: 'other', JobID: 'pdf', DesiredStatus: 'run', ClientStatus: 'running' },
      ],
    }),
    nodes: async () => [
      { ID: 'n1', Drivers: { virt: { Attributes: { 'driver.virt.accelerator': 'kvm' } } } },
    ],
  })
  const { vms } = (await api({ kv, nomad }).inject({ method: 'GET', url: '/v1/vms', headers: writer })).json()
  assert.deepEqual(
    vms.map((v: { name: string; allocations: unknown[] }) => [v.name, v.allocations]),
    [
      [
        'a',
        [
          {
            id: 'x',
            clientStatus: 'pending',
            desiredStatus: 'run',
            taskState: null,
            lastEvent: null,
            node: 'node-1',
            accelerator: 'kvm',
          },
        ],
      ],
      ['b', []],
    ],
  )
})

test("changes need the caller's token: none is a 401 naming the header, and nothing is written", async () => {
  const kv = new MemoryKv()
  const app = api({ kv })
  for (const req of [
    {
      method: 'PUT' as const,
      url: '/v1/vms/web',
      payload: JSON.stringify(vm),
      headers: { 'content-type': 'application/json' },
    },
    { method: 'POST' as const, url: '/v1/vms/web/stop' },
    { method: 'DELETE' as const, url: '/v1/vms/web' },
  ]) {
    const res = await app.inject(req)
    assert.equal(res.statusCode, 401, req.method)
    assert.equal(res.json().code, 'LEAN_ERR_TOKEN_REQUIRED')
    assert.match(res.json().message, /X-Consul-Token/)
  }
  assert.equal(kv.data.size, 0)
  const bearer = await app.inject({
    method: 'PUT',
    url: '/v1/vms/web',
    payload: JSON.stringify(vm),
    headers: { 'content-type': 'application/json', authorization: 'Bearer operator' },
  })
  assert.equal(bearer.statusCode, 201, 'Authorization: Bearer works too')
})
