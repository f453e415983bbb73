import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent, trapAtStartComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { taskProcessPids, stopJob, taskEventText, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'
import type { TestComponent } from '../../harness/components.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

async function expectFailure(name: string, component: TestComponent, message: RegExp, config: Record<string, unknown> = {}): Promise<string> {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName(name)
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, component, { config }))
  try {
    const [alloc] = await waitForAllocs(addr, id, 1, 'failed', 60_000)
    const events = taskEventText(alloc!)
    assert.match(events, message, events)
    assert.deepEqual(await taskProcessPids(alloc!.ID), [], 'a failed start leaves no task process behind')
    return events
  } finally {
    await stopJob(addr, id).catch(() => {})
  }
}

test('a wrong digest fails the task with a clear event that does not tell the real digest', async () => {
  const hello = await helloComponent()
  const events = await expectFailure('bad-digest', { file: hello.file, sha256: '0'.repeat(64) }, /its sha256 is not the one the task config names \(0{64}\).*LEAN_ERR_COMPONENT_DIGEST/s)
  assert.ok(!events.includes(hello.sha256), 'the digest of what was read is not shown')
})

test('a missing component file fails the task with a clear event', async () => {
  // A digest no client has cached: a cached digest would start from the cache
  // (components are content-addressed), whatever its source says.
  const neverSeen = randomBytes(32).toString('hex')
  const missing = path.join(repo, 'workloads', 'dist', `nonexistent-${neverSeen.slice(0, 8)}.wasm`)
  await expectFailure('missing', { file: missing, sha256: neverSeen }, /cannot fetch component .*nonexistent-[0-9a-f]{8}\.wasm: no such file/)
})

test('a host file or a loopback URL as the source is refused before anything is read, with nothing told of it', async () => {
  const neverSeen = randomBytes(32).toString('hex')
  const hostFile = createHash('sha256').update(await readFile('/etc/hostname')).digest('hex')
  for (const [name, file, option] of [
    ['host-file', '/etc/hostname', 'component_paths'],
    ['no-such-host-file', '/etc/no-such-file-here', 'component_paths'],
    ['loopback', 'http://127.0.0.1:9/x.wasm', 'component_hosts'],
  ] as const) {
    const events = await expectFailure(name, { file, sha256: neverSeen }, new RegExp(`${option}.*LEAN_ERR_COMPONENT_SOURCE`, 's'))
    assert.ok(!events.includes(hostFile), `${name}: no digest of a host file`)
    assert.doesNotMatch(events, /no such file|does not exist/, `${name}: whether a path outside exists is not told`)
  }
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

test('a job that still asks for the removed node engine fails naming engine; one naming "wasmtime" runs', async () => {
  const hello = await helloComponent()
  await expectFailure('node-engine', hello, /engine: only "wasmtime" is available \(the node engine was removed\).*\(LEAN_ERR_DRIVER_CONFIG\)/s, { engine: 'node' })
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('wasmtime-engine')
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, hello, { instances: 1, config: { engine: 'wasmtime' } }))
  try {
    await waitForAllocs(addr, id, 1, 'running')
  } finally {
    await stopJob(addr, id).catch(() => {})
  }
})
