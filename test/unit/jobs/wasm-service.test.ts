import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SpecError } from '../../../jobs/errors.ts'
import { placementProblem, renderWasmServiceJob, type WasmServiceSpec } from '../../../jobs/wasm-service.ts'

const sha256 = 'ab'.repeat(32)
const email: WasmServiceSpec = {
  name: 'email',
  component: { sha256 },
  count: 3,
  port: 'dynamic',
  service: { name: 'email-service', checkPath: '/health' },
}
const pdf: WasmServiceSpec = {
  name: 'pdf',
  component: { sha256 },
  count: 6,
  port: { static: 8080 },
  service: { name: 'pdf' },
}

test('a dynamic-port service renders with its check, driver config and defaults', () => {
  const job = renderWasmServiceJob(email)
  const group = job.TaskGroups[0]!
  assert.equal(job.ID, 'email')
  assert.equal(group.Count, 3)
  assert.deepEqual(group.Networks, [{ DynamicPorts: [{ Label: 'http' }] }])
  assert.equal(group.Services[0]!.Name, 'email-service')
  assert.deepEqual(group.Services[0]!.Checks[0], {
    Name: 'email-service http',
    Type: 'http',
    Path: '/health',
    Interval: 5e9,
    Timeout: 2e9,
  })
  assert.equal(group.Tasks[0]!.Driver, 'wasm')
  assert.deepEqual(group.Tasks[0]!.Config, {
    app: 'email',
    component: `s3://artifacts/components/${sha256}.wasm`,
    sha256,
    port: 'http',
    instances: 2,
    env: {},
  })
})

test('rendering is deterministic', () => {
  assert.equal(JSON.stringify(renderWasmServiceJob(pdf)), JSON.stringify(renderWasmServiceJob({ ...pdf })))
})

test('a fixed port renders as a reserved port, and more allocations than nodes is reported', () => {
  assert.deepEqual(renderWasmServiceJob(pdf).TaskGroups[0]!.Networks, [
    { ReservedPorts: [{ Label: 'http', Value: 8080 }] },
  ])
  assert.match(
    placementProblem(pdf, 1)!,
    /pdf: 6 allocations on fixed port 8080 need 6 nodes, but 1 is eligible; use a dynamic port/,
  )
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
    assert.throws(
      () => renderWasmServiceJob({ ...email, ...patch }),
      (err: unknown) =>
        err instanceof SpecError && err.field === field && err.code === 'LEAN_ERR_SPEC_INVALID',
    )
  }
})

test('grants and limits render into the driver config the driver itself accepts', async () => {
  const { parseTaskConfig } = await import('../../../task-driver/wasm/task-config.ts')
  const spec: WasmServiceSpec = {
    ...email,
    grants: { buckets: ['cloud-pdfs'], mail: ['example.com', 'ops@example.org'] },
    limits: { maxRequestBody: '8MiB', requestTimeout: '60s' },
  }
  const config = renderWasmServiceJob(spec).TaskGroups[0]!.Tasks[0]!.Config as Record<string, unknown>
  assert.deepEqual(config.grants, [{ buckets: ['cloud-pdfs'], request_log: false, outbound: [], mail_to: ['example.com', 'ops@example.org'] }])
  const parsed = parseTaskConfig(config)
  assert.equal(parsed.app, 'email', "the app's name: the rows its task reaches")
  assert.equal(parsed.maxRequestBodyBytes, 8 * 1024 * 1024)
  assert.equal(parsed.requestTimeoutMs, 60_000)
  assert.deepEqual(parsed.grants, { buckets: ['cloud-pdfs'], requestLog: false, outbound: [], mailTo: ['example.com', 'ops@example.org'] })
  assert.throws(() => renderWasmServiceJob({ ...spec, grants: { mail: ['Example.com'] } }), /grants\.mail\[0\]: "Example\.com" is not an e-mail address or a domain/)
  assert.throws(
    () => renderWasmServiceJob({ ...spec, limits: { requestTimeout: 'soon' } }),
    /limits\.requestTimeout: expected a duration such as/,
  )
  assert.throws(
    () => renderWasmServiceJob({ ...spec, grants: { buckets: ['Bad_Bucket'] } }),
    /grants\.buckets\[0\]: "Bad_Bucket" is not a bucket name/,
  )
})

test("the product's workloads: the seeds' shapes by default, dynamic ports on request", async () => {
  const { emailWorkerSpec, pdfServiceSpec } = await import('../../../jobs/workloads.ts')
  const pdfSpec = pdfServiceSpec({ sha256 })
  assert.equal(pdfSpec.count, 6)
  assert.deepEqual(pdfSpec.port, { static: 8080 })
  assert.deepEqual(pdfSpec.grants, { buckets: ['cloud-pdfs'], requestLog: true, outbound: ['http://email.service.consul'] })
  assert.match(placementProblem(pdfSpec, 1)!, /6 allocations on fixed port 8080 need 6 nodes/)
  assert.equal(placementProblem(pdfServiceSpec({ sha256, port: 'dynamic' }), 1), undefined)
  const emailSpec = emailWorkerSpec({ sha256 })
  assert.equal(emailSpec.count, 3)
  assert.equal(emailSpec.port, 'dynamic')
  assert.deepEqual(emailSpec.grants, { buckets: ['cloud-pdfs'], mail: ['example.com'] })
  assert.equal(renderWasmServiceJob(emailSpec).TaskGroups[0]!.Services[0]!.Checks[0]!.Path, '/health')
})

test("instances that together may outgrow the task's memory are refused naming limits.instanceMemory", () => {
  const fits = (o: Partial<WasmServiceSpec>) => () => renderWasmServiceJob({ ...email, ...o })
  assert.doesNotThrow(fits({}), 'the defaults fit: 2 instances × 128 MiB in 256 MB')
  assert.doesNotThrow(fits({ instances: 4, limits: { instanceMemory: '64MiB' } }))
  assert.throws(fits({ instances: 4 }), (err: SpecError) => err.field === 'limits.instanceMemory' && /4 instances × 128 MiB = 512 MiB do not fit the task's resources\.memoryMB \(256\)/.test(err.message))
  assert.throws(
    fits({ instances: 1024, limits: { instanceMemory: '4GiB' }, resources: { cpu: 100, memoryMB: 1024 } }),
    (err: SpecError) => err.field === 'limits.instanceMemory',
  )
})
