import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent, trapAtStartComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { taskProcessPids, stopJob, taskEventText, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'
import type { TestComponent } from '../../harness/components.ts'

async function expectFailure(name: string, component: TestComponent, message: RegExp, config: Record<string, unknown> = {}) {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName(name)
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, component, { config }))
  try {
    const [alloc] = await waitForAllocs(addr, id, 1, 'failed', 60_000)
    const events = taskEventText(alloc!)
    assert.match(events, message, events)
    assert.deepEqual(await taskProcessPids(alloc!.ID), [], 'a failed start leaves no task process behind')
  } finally {
    await stopJob(addr, id).catch(() => {})
  }
}

test('a wrong digest fails the task with a clear event', async () => {
  const hello = await helloComponent()
  await expectFailure('bad-digest', { file: hello.file, sha256: '0'.repeat(64) }, /has sha256 [0-9a-f]{64}, but the task config expects 0{64}.*LEAN_ERR_COMPONENT_DIGEST/s)
})

test('a missing component file fails the task with a clear event', async () => {
  // A digest no client has cached: a cached digest would start from the cache
  // (components are content-addressed), whatever its source says.
  const neverSeen = randomBytes(32).toString('hex')
  await expectFailure('missing', { file: '/nonexistent/hello.wasm', sha256: neverSeen }, /cannot fetch component \/nonexistent\/hello\.wasm: no such file/)
})

test('a component that is not a wasi:http service fails the task with a clear event', async () => {
  // A valid component (its core start function traps) that exports no incoming-handler.
  await expectFailure('not-http', await trapAtStartComponent(), /does not fit the wasi:http proxy world.*LEAN_ERR_COMPONENT_COMPILE/s)
})

test('an unknown or mistyped config option fails validation on the client, naming it', async () => {
  const hello = await helloComponent()
  await expectFailure('unknown-option', hello, /Failed Validation.*No argument or block type is named "colour"/s, { colour: 'red' })
  await expectFailure('wrong-type', hello, /Failed Validation.*instances/s, { instances: 'many' })
})
