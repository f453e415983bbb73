// The runner on its own (the process StartTask launches): the host enforces
// timeouts and replaces trapped instances without harming the others.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { buildDriver, driverDist } from '../../../task-driver/build.ts'
import { parseTaskConfig } from '../../../task-driver/task-config.ts'
import { stateFile, writeJsonAtomic, type ExitReport } from '../../../task-driver/runner/runner-spec.ts'
import { builtBinary } from '../../../infra/cloud/binaries.ts'
import { loadConfig } from '../../../infra/cloud/config.ts'
import { helloComponent } from '../../harness/components.ts'
import { freePort } from '../../harness/ports.ts'

// Both engines keep the same promises: wasmtime (the default) and the node fallback.
const wasmtimeHost = await builtBinary(loadConfig(), 'wasm-host')

async function startRunner(engine: 'wasmtime' | 'node', extra: Record<string, unknown>) {
  await buildDriver()
  const hello = await helloComponent()
  const stateDir = await mkdtemp(path.join(tmpdir(), 'runner-test-'))
  const port = await freePort()
  const config = parseTaskConfig({
    component: hello.file,
    sha256: hello.sha256,
    port: 'http',
    engine,
    ...extra,
  })
  await writeJsonAtomic(stateFile(stateDir, 'runner.json'), {
    taskId: 't/app/1',
    config,
    host: '127.0.0.1',
    port,
    cacheDir: path.join(tmpdir(), 'runner-test-cache'),
    stateDir,
    guestEnv: {},
    capabilities: {},
    capabilityToken: 't',
    ...(wasmtimeHost && { wasmtimeHost }),
  })
  const child = spawn(
    process.execPath,
    [path.join(driverDist, 'runner.mjs'), stateFile(stateDir, 'runner.json')],
    { stdio: 'ignore' },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await waitFor(async () => readFile(stateFile(stateDir, 'ready.json')).then(() => true), {
    timeoutMs: 60_000,
    what: 'the runner to be ready',
  })
  return { base: `http://127.0.0.1:${port}`, child, stateDir, exited }
}

for (const engine of ['wasmtime', 'node'] as const) {
  test(`${engine}: a trap answers 500 and the instance is replaced; a hung request gets 504; the others keep serving`, async (t) => {
    const runner = await startRunner(engine, { instances: 2, request_timeout: '1s' })
    t.after(() => runner.child.kill('SIGKILL'))

    const trapped = await fetch(`${runner.base}/trap`)
    assert.equal(trapped.status, 500)
    assert.equal(await trapped.text(), 'the component trapped\n')
    const spinning = await fetch(`${runner.base}/spin?ms=10000`)
    assert.equal(spinning.status, 504)
    // Both faulty instances were replaced: every request still gets a 200.
    for (let i = 0; i < 10; i++) assert.equal((await fetch(`${runner.base}/`)).status, 200)
  })

  test(`${engine}: a request body over the limit gets 413 without reaching the component`, async (t) => {
    const runner = await startRunner(engine, { instances: 1, max_request_body: '1KiB' })
    t.after(() => runner.child.kill('SIGKILL'))
    const res = await fetch(`${runner.base}/echo`, { method: 'POST', body: 'x'.repeat(4096) })
    assert.equal(res.status, 413)
    assert.equal((await fetch(`${runner.base}/`)).status, 200)
  })

  test(`${engine}: SIGTERM stops the runner promptly even with idle keep-alive connections, and it reports a clean exit`, async () => {
    const runner = await startRunner(engine, { instances: 1 })
    await fetch(`${runner.base}/`) // leaves an idle keep-alive connection in fetch's pool
    const started = Date.now()
    runner.child.kill('SIGTERM')
    await runner.exited
    // Far below the 65 s keep-alive timeout it would otherwise wait out (loose: the machine may be loaded).
    assert.ok(Date.now() - started < 30_000, `stopped in ${Date.now() - started} ms`)
    const report = JSON.parse(await readFile(stateFile(runner.stateDir, 'exit.json'), 'utf8')) as ExitReport
    assert.deepEqual(report, { exitCode: 0, signal: 0, oomKilled: false })
  })
}
