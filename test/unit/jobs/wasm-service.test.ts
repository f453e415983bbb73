import assert from 'node:assert/strict'
import { test } from 'node:test'
import { JobSpecError } from '../../../jobs/errors.ts'
import { placementProblem, renderWasmServiceJob, type WasmServiceSpec } from '../../../jobs/wasm-service.ts'

const sha256 = 'ab'.repeat(32)
const email: WasmServiceSpec = { name: 'email', component: { sha256 }, count: 3, port: 'dynamic', service: { name: 'email-service', checkPath: '/health' } }
const pdf: WasmServiceSpec = { name: 'pdf', component: { sha256 }, count: 6, port: { static: 8080 }, service: { name: 'pdf' } }

test('a dynamic-port service renders with its check, driver config and defaults', () => {
  const job = renderWasmServiceJob(email)
  const group = job.TaskGroups[0]!
  assert.equal(job.ID, 'email')
  assert.equal(group.Count, 3)
  assert.deepEqual(group.Networks, [{ DynamicPorts: [{ Label: 'http' }] }])
  assert.equal(group.Services[0]!.Name, 'email-service')
  assert.deepEqual(group.Services[0]!.Checks[0], { Name: 'email-service http', Type: 'http', Path: '/health', Interval: 5e9, Timeout: 2e9 })
  assert.equal(group.Tasks[0]!.Driver, 'wasm')
  assert.deepEqual(group.Tasks[0]!.Config, { component: `s3://artifacts/components/${sha256}.wasm`, sha256, port: 'http', instances: 2, env: {} })
})

test('rendering is deterministic', () => {
  assert.equal(JSON.stringify(renderWasmServiceJob(pdf)), JSON.stringify(renderWasmServiceJob({ ...pdf })))
})

test('a fixed port renders as a reserved port, and more allocations than nodes is reported', () => {
  assert.deepEqual(renderWasmServiceJob(pdf).TaskGroups[0]!.Networks, [{ ReservedPorts: [{ Label: 'http', Value: 8080 }] }])
  assert.match(placementProblem(pdf, 1)!, /pdf: 6 allocations on fixed port 8080 need 6 nodes, but 1 is eligible; use a dynamic port/)
  assert.equal(placementProblem(pdf, 6), undefined)
  assert.equal(placementProblem(email, 1), undefined)
})

test('every bad field is named', () => {
  const cases: Array<[Partial<WasmServiceSpec>, string]> = [
    [{ name: 'PDF!' }, 'name'],
    [{ component: { sha256: 'xyz' } }, 'component.sha256'],
    [{ count: -1 }, 'count'],
    [{ port: { static: 70000 } }, 'port.static'],
    [{ service: { name: 'Bad Name' } }, 'service.name'],
    [{ service: { name: 'pdf', checkPath: 'health' } }, 'service.checkPath'],
    [{ instances: 0 }, 'instances'],
    [{ resources: { cpu: 1, memoryMB: 64 } }, 'resources.cpu'],
    [{ env: { '1BAD': 'x' } }, 'env.1BAD'],
  ]
  for (const [patch, field] of cases) {
    assert.throws(() => renderWasmServiceJob({ ...email, ...patch }), (err: unknown) => err instanceof JobSpecError && err.field === field && err.code === 'LEAN_ERR_SPEC_INVALID')
  }
})
