// The healthy count: an allocation counts when it runs and each Consul
// service of its group has an instance of it whose checks all pass (a group
// without services: when it runs); which checks count as failing (output,
// notes, or past the grace); and the phase that count adds up to.
// Nomad and Consul are stubbed at the count's function boundary.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { phaseOf } from '../../../controller/app-status.ts'
import { allocationHealth, allocIdOf, consulServices, type CheckState, type HealthSources, type ServiceInstance } from '../../../controller/service-health.ts'
import type { AllocationListStub } from '../../../generated/nomad/types.ts'
import { parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'

const SHA = 'a'.repeat(64)
const A1 = '11111111-1111-1111-1111-111111111111'
const A2 = '22222222-2222-2222-2222-222222222222'
const A3 = '33333333-3333-3333-3333-333333333333'

const NOW = Date.parse('2026-12-01T12:00:00Z')
/** An allocation whose task started `ago` ms before NOW (a minute by default: past any grace). */
const alloc = (ID: string, ClientStatus = 'running', TaskGroup = 'web', ago = 60_000): AllocationListStub => ({ ID, ClientStatus, TaskGroup, TaskStates: { task: { State: 'running', StartedAt: new Date(NOW - ago).toISOString() } } })
const check = (status: string, output = status === 'passing' ? 'HTTP GET …: 200 OK' : 'HTTP GET …: 500 Internal Server Error', name = 'web http', notes = ''): CheckState => ({ name, status, output, notes })
const serf = check('passing', 'Agent alive and reachable', 'Serf Health Status')
/** An instance as Nomad registers a group service. */
const instance = (allocId: string, ...checks: CheckState[]): ServiceInstance => ({ id: `_nomad-task-${allocId}-group-web-web-http`, checks: [serf, ...checks] })

function sources(allocs: AllocationListStub[], instances: Record<string, ServiceInstance[]>) {
  const asked: string[] = []
  const s: HealthSources = {
    allocations: async () => allocs,
    instances: async (service) => {
      asked.push(service)
      return instances[service] ?? []
    },
  }
  return { s, asked }
}

const web = new Map([['web', { names: ['web'], graceMs: 12_000 }]])

test("allocIdOf reads the allocation out of Nomad's service IDs and nothing else", () => {
  assert.equal(allocIdOf(`_nomad-task-${A1}-group-web-web-http`), A1)
  assert.equal(allocIdOf(`_nomad-task-${A2}-vm-vm-http`), A2)
  assert.equal(allocIdOf('lean-controller-host-1'), undefined)
  assert.equal(allocIdOf('_nomad-task-not-an-id-web-http'), undefined)
})

test('consulServices lists the services of each group, group-level and task-level', () => {
  const wasm = renderAppJob(parseAppSpec('web', JSON.stringify({ kind: 'wasm-service', component: { sha256: SHA }, service: { name: 'site' } })))
  assert.deepEqual([...consulServices(wasm)], [['web', { names: ['site'], graceMs: 12_000 }]]) // 2 × 5 s interval + 2 s timeout
  const vm = renderAppJob(parseAppSpec('box', JSON.stringify({ kind: 'vm', image: { sha256: SHA }, ports: { http: 80 }, service: { port: 'http', checkIntervalSeconds: 1 } })))
  assert.deepEqual([...consulServices(vm)], [['box', { names: ['box'], graceMs: 3_000 }]])
  const bare = renderAppJob(parseAppSpec('box', JSON.stringify({ kind: 'vm', image: { sha256: SHA } })))
  assert.deepEqual([...consulServices(bare)], [['box', { names: [], graceMs: 0 }]])
})

test('only running allocations whose checks all pass are healthy', async () => {
  const { s } = sources([alloc(A1), alloc(A2), alloc(A3)], {
    web: [instance(A1, check('passing')), instance(A2, check('critical')), instance(A3, check('warning'))],
  })
  const h = await allocationHealth(s, 'web', web, NOW)
  assert.equal(h.running, 3)
  assert.equal(h.healthy, 1)
  assert.equal(h.failing.length, 2)
  assert.match(h.failing[0]!, /^allocation 22222222: web: check "web http" critical: HTTP GET …: 500 Internal Server Error$/)
})

test("a failing node check makes the node's instances unhealthy too", async () => {
  const { s } = sources([alloc(A1)], { web: [{ id: `_nomad-task-${A1}-group-web-web-http`, checks: [check('critical', 'Agent not live or unreachable', 'Serf Health Status'), check('passing')] }] })
  assert.equal((await allocationHealth(s, 'web', web, NOW)).healthy, 0)
})

test('an instance in maintenance is unhealthy, reported with the reason (its check has notes, no output)', async () => {
  const { s } = sources([alloc(A1)], { web: [instance(A1, check('passing'), check('critical', '', 'Service Maintenance Mode', 'draining'))] })
  assert.deepEqual(await allocationHealth(s, 'web', web, NOW), { running: 1, failed: 0, healthy: 0, failing: ['allocation 11111111: web: check "Service Maintenance Mode" critical: draining'] })
})

test('a running allocation with no instance registered is not healthy; reported failing after the grace', async () => {
  const { s } = sources([alloc(A1), alloc(A2, 'running', 'web', 5_000), alloc(A3)], { web: [instance(A1, check('passing'))] })
  assert.deepEqual(await allocationHealth(s, 'web', web, NOW), { running: 3, failed: 0, healthy: 1, failing: ['allocation 33333333: web: not registered in Consul'] })
})

test('a check without output is starting within the grace, and failing after it', async () => {
  // Consul's catalog keeps a check's output empty while its status has not changed since registration.
  const { s } = sources([alloc(A1, 'running', 'web', 11_000), alloc(A2, 'running', 'web', 13_000)], { web: [instance(A1, check('critical', '')), instance(A2, check('critical', ''))] })
  assert.deepEqual(await allocationHealth(s, 'web', web, NOW), { running: 2, failed: 0, healthy: 0, failing: ['allocation 22222222: web: check "web http" critical: (no output in Consul yet)'] })
})

test('a check with output fails at once, within the grace too', async () => {
  const { s } = sources([alloc(A1, 'running', 'web', 1_000)], { web: [instance(A1, check('critical'))] })
  assert.equal((await allocationHealth(s, 'web', web, NOW)).failing.length, 1)
})

test("instances of other allocations (another job's, a stopped one's) under the same name do not count", async () => {
  const { s } = sources([alloc(A1, 'running', 'web', 5_000), alloc(A2, 'complete')], { web: [instance(A2, check('passing')), instance(A3, check('passing'))] })
  assert.deepEqual(await allocationHealth(s, 'web', web, NOW), { running: 1, failed: 0, healthy: 0, failing: [] })
})

test('every service of the group must pass: one failing service makes the allocation unhealthy', async () => {
  const two = new Map([['web', { names: ['web', 'admin'], graceMs: 12_000 }]])
  const { s } = sources([alloc(A1)], {
    web: [instance(A1, check('passing'))],
    admin: [{ id: `_nomad-task-${A1}-group-web-admin-admin`, checks: [check('critical', 'dial tcp: connection refused', 'admin tcp')] }],
  })
  const h = await allocationHealth(s, 'web', two, NOW)
  assert.equal(h.healthy, 0)
  assert.deepEqual(h.failing, ['allocation 11111111: admin: check "admin tcp" critical: dial tcp: connection refused'])
})

test('a group without services counts its running allocations, and Consul is not asked', async () => {
  const { s, asked } = sources([alloc(A1, 'running', 'box'), alloc(A2, 'failed', 'box'), alloc(A3, 'lost', 'box')], {})
  assert.deepEqual(await allocationHealth(s, 'box', new Map([['box', { names: [], graceMs: 0 }]]), NOW), { running: 1, failed: 2, healthy: 1, failing: [] })
  assert.deepEqual(asked, [])
})

test('nothing running: Consul is not asked', async () => {
  const { s, asked } = sources([alloc(A1, 'pending', 'web', 5_000)], {})
  assert.deepEqual(await allocationHealth(s, 'web', web, NOW), { running: 0, failed: 0, healthy: 0, failing: [] })
  assert.deepEqual(asked, [])
})

test('a long check output is cut in the report', async () => {
  const { s } = sources([alloc(A1)], { web: [instance(A1, check('critical', `HTTP GET: 404 Not Found Output: ${'x'.repeat(500)}`))] })
  const [line] = (await allocationHealth(s, 'web', web, NOW)).failing
  assert.ok(line!.length < 250 && line!.endsWith('…'), line)
})

test('phaseOf: running only when enough allocations are healthy', () => {
  const h = (running: number, healthy: number, failed = 0, failing: string[] = []) => ({ running, healthy, failed, failing })
  assert.deepEqual(phaseOf(2, h(2, 2)), { phase: 'running', lastError: null })
  assert.deepEqual(phaseOf(2, h(3, 2, 0, ['x'])), { phase: 'running', lastError: null }) // a surplus one during an update
  assert.deepEqual(phaseOf(2, h(1, 1)), { phase: 'deploying', lastError: null })
  assert.deepEqual(phaseOf(2, h(2, 1)), { phase: 'deploying', lastError: null }) // a check not run yet
  assert.deepEqual(phaseOf(2, h(2, 1, 0, ['allocation 1: web: …'])), { phase: 'unhealthy', lastError: '1 running allocation(s) fail their Consul checks; allocation 1: web: …' })
  assert.deepEqual(phaseOf(2, h(1, 0, 0, ['allocation 1: web: …'])), { phase: 'deploying', lastError: '1 running allocation(s) fail their Consul checks; allocation 1: web: …' })
  assert.deepEqual(phaseOf(2, h(0, 0, 3)), { phase: 'failed', lastError: '3 allocation(s) failed' })
  assert.deepEqual(phaseOf(2, h(1, 1, 3)), { phase: 'deploying', lastError: null })
  assert.deepEqual(phaseOf(0, h(0, 0)), { phase: 'stopped', lastError: null })
  assert.deepEqual(phaseOf(0, h(1, 1)), { phase: 'deploying', lastError: null })
})
