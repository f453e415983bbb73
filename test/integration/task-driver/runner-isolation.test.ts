// A task's process on its own, started as StartTask starts it (the wasmtime
// host): it enforces timeouts and replaces trapped instances without harming
// the others.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { stateFile, type ExitReport } from '../../../task-driver/wasm/runner-spec.ts'
import { startHelloTask } from '../../harness/task-process.ts'

test('a trap answers 500 and the instance is replaced; a hung request gets 504; the others keep serving', async (t) => {
  const runner = await startHelloTask({ instances: 2, request_timeout: '1s' })
  t.after(() => runner.kill())

  const trapped = await fetch(`${runner.base}/trap`)
  assert.equal(trapped.status, 500)
  assert.equal(await trapped.text(), 'the component trapped\n')
  const spinning = await fetch(`${runner.base}/spin?ms=10000`)
  assert.equal(spinning.status, 504)
  // Both faulty instances were replaced: every request still gets a 200.
  for (let i = 0; i < 10; i++) assert.equal((await fetch(`${runner.base}/`)).status, 200)
})

test('a request body over the limit gets 413 without reaching the component', async (t) => {
  const runner = await startHelloTask({ instances: 1, max_request_body: '1KiB' })
  t.after(() => runner.kill())
  const res = await fetch(`${runner.base}/echo`, { method: 'POST', body: 'x'.repeat(4096) })
  assert.equal(res.status, 413)
  assert.equal((await fetch(`${runner.base}/`)).status, 200)
})

test("SIGTERM stops the task's process promptly even with idle keep-alive connections, and it reports a clean exit", async () => {
  const runner = await startHelloTask({ instances: 1 })
  await fetch(`${runner.base}/`) // leaves an idle keep-alive connection in fetch's pool
  const started = Date.now()
  runner.handle.signal('SIGTERM')
  await runner.handle.waitExit()
  await runner.capabilities.close()
  // Far below the 65 s keep-alive timeout it would otherwise wait out (loose: the machine may be loaded).
  assert.ok(Date.now() - started < 30_000, `stopped in ${Date.now() - started} ms`)
  const report = JSON.parse(await readFile(stateFile(runner.stateDir, 'exit.json'), 'utf8')) as ExitReport
  assert.deepEqual(report, { exitCode: 0, signal: 0, oomKilled: false })
})
