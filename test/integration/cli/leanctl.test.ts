// leanctl as operators run it (a child process) against the real Consul, on
// prefixes of its own so a running controller never sees these apps: apply
// creates, re-apply is unchanged, an invalid document changes nothing, status
// lists the app as pending, wait follows the status key, delete removes.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { AppStatus } from '../../../controller/app-status.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const sha256 = 'ab'.repeat(32)

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

function start(
  args: string[],
  env: Record<string, string | undefined>,
): { child: ChildProcess; output: () => Result; done: Promise<Result> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/leanctl.ts', ...args], {
    cwd: repo,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const output = () => ({ code: child.exitCode, stdout, stderr })
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
  return { child, output, done }
}

/** Resolves once the child's stdout matches; fails if it exits first. */
function untilStdout(run: ReturnType<typeof start>, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(run.output().stdout)) return
      run.child.stdout!.off('data', check)
      resolve()
    }
    run.child.stdout!.on('data', check)
    void run.done.then((r) =>
      reject(new Error(`leanctl exited (${r.code}) before printing ${pattern}: ${JSON.stringify(r)}`)),
    )
    check()
  })
}

test('leanctl against the real Consul', { timeout: 120_000 }, async (t) => {
  const { env: cloudEnv } = await useCloud()
  const root = uniqueName('lean-test-cli')
  const env = {
    ...process.env,
    ...cloudEnv,
    LEAN_APPS_PREFIX: `${root}/apps/`,
    LEAN_STATUS_PREFIX: `${root}/status/`,
    NODE_TEST_CONTEXT: undefined,
  }
  const kv = new ConsulKv(cloudEnv.CONSUL_HTTP_ADDR!, cloudEnv.CONSUL_HTTP_TOKEN)
  t.after(() => kv.deleteTree(`${root}/`).catch(() => {}))
  const dir = await mkdtemp(path.join(tmpdir(), 'leanctl-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const leanctl = (args: string[], stdin = '') => {
    const run = start(args, env)
    run.child.stdin!.end(stdin)
    return run.done
  }

  const app = uniqueName('app')
  const specKey = `${root}/apps/${app}`
  const yamlFile = path.join(dir, `${app}.yaml`)
  const doc = { kind: 'wasm-service', component: { sha256 }, count: 1, service: { checkPath: '/' } }
  await writeFile(
    yamlFile,
    `# ${app}\nkind: wasm-service\ncomponent:\n  sha256: "${sha256}"\ncount: 1\nservice:\n  checkPath: /\n`,
  )

  await t.test('apply creates the key from a YAML file named after the app', async () => {
    assert.deepEqual(await leanctl(['apply', '-f', yamlFile]), {
      code: 0,
      stdout: `app/${app} created\n`,
      stderr: '',
    })
    assert.deepEqual(JSON.parse((await kv.get(specKey))!.value), doc)
  })

  await t.test(
    'applying the same document again, as YAML or as JSON on stdin, is unchanged and writes nothing',
    async () => {
      const before = (await kv.get(specKey))!.modifyIndex
      assert.deepEqual(await leanctl(['apply', '-f', yamlFile]), {
        code: 0,
        stdout: `app/${app} unchanged\n`,
        stderr: '',
      })
      const reordered = JSON.stringify({
        service: { checkPath: '/' },
        count: 1,
        component: { sha256 },
        kind: 'wasm-service',
      })
      assert.deepEqual(await leanctl(['apply', '-f', '-', '--name', app], reordered), {
        code: 0,
        stdout: `app/${app} unchanged\n`,
        stderr: '',
      })
      assert.equal((await kv.get(specKey))!.modifyIndex, before)
    },
  )

  await t.test(
    'an invalid document exits 2 naming the field, and what is stored does not change',
    async () => {
      const before = await kv.get(specKey)
      const bad = path.join(dir, 'bad.json')
      await writeFile(bad, JSON.stringify({ ...doc, count: 'many' }))
      assert.deepEqual(await leanctl(['apply', '-f', bad, '--name', app]), {
        code: 2,
        stdout: '',
        stderr: 'invalid count: expected a whole number from 0 to 1000\n',
      })
      assert.deepEqual(await kv.get(specKey), before)
    },
  )

  await t.test('status lists the app as pending until the controller writes a status', async () => {
    const all = await leanctl(['status'])
    assert.equal(all.code, 0, all.stderr)
    const [header, ...rows] = all.stdout.trimEnd().split('\n')
    assert.match(header!, /^NAME +PHASE +HEALTHY +DESIRED +VERSION +AGE +LAST-ERROR$/)
    assert.deepEqual(
      rows.map((r) => r.split(/ +/)),
      [[app, 'pending', '-', '-', '-', '-', '-']],
    )
    const one = await leanctl(['status', app])
    assert.equal(one.stdout, all.stdout)
  })

  await t.test('get shows the stored document and no status yet', async () => {
    const got = await leanctl(['get', app])
    assert.equal(got.code, 0, got.stderr)
    assert.deepEqual(JSON.parse(got.stdout), {
      name: app,
      modifyIndex: (await kv.get(specKey))!.modifyIndex,
      spec: doc,
      status: null,
    })
  })

  await t.test('wait follows the status key as it changes and exits 0 once running', async () => {
    const observedIndex = (await kv.get(specKey))!.modifyIndex
    const status = (phase: AppStatus['phase'], healthy: number): string =>
      JSON.stringify({
        name: app,
        observedIndex,
        phase,
        healthy,
        desired: 1,
        jobVersion: 0,
        lastError: null,
        lastTransitionTime: new Date().toISOString(),
      } satisfies AppStatus)
    const wait = start(['wait', app, '--timeout', '60s'], env)
    wait.child.stdin!.end()
    await untilStdout(wait, /pending\n/)
    await kv.set(`${root}/status/${app}`, status('deploying', 0))
    await untilStdout(wait, /deploying \(healthy 0\/1\)\n/)
    await kv.set(`${root}/status/${app}`, status('running', 1))
    assert.deepEqual(await wait.done, {
      code: 0,
      stdout: `app/${app} pending\napp/${app} deploying (healthy 0/1)\napp/${app} running (healthy 1/1)\n`,
      stderr: '',
    })
    const table = await leanctl(['status', app])
    assert.deepEqual(table.stdout.trimEnd().split('\n')[1]!.split(/ +/).slice(0, 5), [
      app,
      'running',
      '1',
      '1',
      '0',
    ])
  })

  await t.test('a wait that sees no running status times out with 124', async () => {
    await kv.set(
      `${root}/status/${app}`,
      JSON.stringify({
        name: app,
        observedIndex: 1,
        phase: 'running',
        healthy: 1,
        desired: 1,
        jobVersion: 0,
        lastError: null,
        lastTransitionTime: new Date().toISOString(),
      }),
    )
    const result = await leanctl(['wait', app, '--timeout', '1500ms'])
    assert.equal(result.code, 124)
    assert.equal(result.stdout, `app/${app} pending\n`) // that status describes an older spec
    assert.match(
      result.stderr,
      /^error: timed out after 1500ms waiting for app\/.* to be running \(phase: pending\)\n$/,
    )
  })

  await t.test('delete removes the key; deleting again exits 1', async () => {
    assert.deepEqual(await leanctl(['delete', app]), { code: 0, stdout: `app/${app} deleted\n`, stderr: '' })
    assert.equal(await kv.get(specKey), undefined)
    assert.deepEqual(await leanctl(['delete', app]), {
      code: 1,
      stdout: '',
      stderr: `error: app/${app} not found (no key ${specKey})\n`,
    })
  })
})
