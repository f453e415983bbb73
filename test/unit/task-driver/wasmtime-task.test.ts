import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import { DriverError } from '../../../task-driver/kit/errors.ts'
import {
  componentFile,
  prepareWasmtimeLaunch,
  recoveredCapabilities,
  serveCapabilities,
  type HostSpec,
} from '../../../task-driver/wasm/wasmtime-task.ts'
import { defaultComponentSources, type ComponentAccess } from '../../../task-driver/wasm/fetch-component.ts'
import type { RunnerSpec } from '../../../task-driver/wasm/runner-spec.ts'
import { parseTaskConfig } from '../../../task-driver/wasm/task-config.ts'

const componentBytes = Buffer.from('not really wasm')
const componentSha256 = createHash('sha256').update(componentBytes).digest('hex')

async function fixture(extra: Partial<RunnerSpec> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'wasmtime-task-'))
  const component = path.join(dir, 'components-in', 'c.wasm')
  await mkdir(path.dirname(component))
  await writeFile(component, componentBytes)
  const access: ComponentAccess = { ...defaultComponentSources(), paths: [path.dirname(component)] }
  const spec: RunnerSpec = {
    taskId: 'alloc/app',
    config: parseTaskConfig({
      component,
      sha256: componentSha256,
      port: 'http',
      instances: 3,
      env: { GREETING: 'hi' },
    }),
    host: '127.0.0.1',
    port: 24999,
    cacheDir: path.join(dir, 'cache'),
    stateDir: dir,
    guestEnv: { NOMAD_ALLOC_ID: 'alloc', GREETING: 'hi' },
    capabilities: {},
    capabilityToken: 'secret-token',
    wasmtimeHost: '/opt/lean/wasm-host',
    ...extra,
  }
  return { dir, spec, access }
}

test('the host is started detached, reaching only its capability API, with the files the plugin reads', async (t) => {
  const { dir, spec, access } = await fixture()
  const caps = await serveCapabilities(
    spec.config,
    {},
    spec.capabilityToken,
    pino({ level: 'silent' }),
  )
  t.after(() => caps.close())
  const launch = await prepareWasmtimeLaunch(spec, caps, access)
  assert.equal(launch.command, '/opt/lean/wasm-host')
  assert.equal(launch.capabilityPort, Number(caps.authority.split(':')[1]))
  const file = launch.args[0]!
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'the spec holds the token: owner only')
  const host = JSON.parse(await readFile(file, 'utf8')) as HostSpec
  assert.equal(host.exit_with_parent, false, 'it must outlive plugin restarts')
  assert.deepEqual(host.egress_allow, [caps.authority])
  assert.equal(host.listen, '127.0.0.1:24999')
  assert.equal(host.instances, 3)
  assert.equal(
    host.component,
    path.join(spec.cacheDir, 'components', `${componentSha256}.wasm`),
    'the host reads the copy the plugin verified, not the source',
  )
  assert.deepEqual(await readFile(host.component), componentBytes)
  assert.equal(host.ready_file, path.join(dir, 'ready.json'))
  assert.equal(host.exit_file, path.join(dir, 'exit.json'))
  assert.equal(host.events, path.join(dir, 'events.jsonl'))
  assert.deepEqual(host.env, {
    NOMAD_ALLOC_ID: 'alloc',
    GREETING: 'hi',
    LEAN_CAPABILITIES_URL: caps.url,
    LEAN_CAPABILITY_TOKEN: 'secret-token',
  })
  assert.deepEqual(await recoveredCapabilities(dir), { app: spec.config.app, grants: spec.config.grants, token: 'secret-token' })
  assert.equal((await stat(path.join(dir, 'capabilities.json'))).mode & 0o777, 0o600)
})

test('a client without the host refuses the task, naming the plugin option', async (t) => {
  const { spec: full, access } = await fixture()
  const spec: RunnerSpec = { ...full }
  delete (spec as { wasmtimeHost?: string }).wasmtimeHost
  const caps = await serveCapabilities(spec.config, {}, 't', pino({ level: 'silent' }))
  t.after(() => caps.close())
  await assert.rejects(
    prepareWasmtimeLaunch(spec, caps, access),
    (err: unknown) =>
      err instanceof DriverError &&
      err.code === 'LEAN_ERR_DRIVER_CONFIG' &&
      /wasmtime_host/.test(err.message),
  )
})

test('a missing local component is a fetch error; a recovered task without its capabilities file has none', async (t) => {
  const { dir, spec, access } = await fixture()
  const absent = path.join(access.paths[0]!, 'absent.wasm')
  const missing = { ...spec, config: { ...spec.config, component: absent, sha256: 'b'.repeat(64) } }
  const caps = await serveCapabilities(spec.config, {}, 't', pino({ level: 'silent' }))
  t.after(() => caps.close())
  await assert.rejects(
    prepareWasmtimeLaunch(missing, caps, access),
    (err: unknown) => err instanceof DriverError && err.code === 'LEAN_ERR_COMPONENT_FETCH',
  )
  assert.equal(await recoveredCapabilities(path.join(dir, 'nothing-here')), undefined)
})

test('a recovered capability API comes back on the port its host was told about', async (t) => {
  const first = await serveCapabilities(
    { app: 'recovered', grants: { buckets: [], requestLog: false, outbound: [], mailTo: [] } },
    {},
    't',
    pino({ level: 'silent' }),
  )
  const port = Number(first.authority.split(':')[1])
  await first.close()
  const again = await serveCapabilities(
    { app: 'recovered', grants: { buckets: [], requestLog: false, outbound: [], mailTo: [] } },
    {},
    't',
    pino({ level: 'silent' }),
    port,
  )
  t.after(() => again.close())
  assert.equal(again.authority, `127.0.0.1:${port}`)
  const res = await fetch(`${again.url}/mail`, { method: 'POST', headers: { authorization: 'Bearer t' } })
  assert.equal(res.status, 403, 'it enforces the grants again')
})

test('a task recovered from state without its app reaches no rows: its request log and outbox are refused naming the app', async (t) => {
  // capabilities.json as an earlier version wrote it: grants and token, no app.
  const saved = { grants: { buckets: [], requestLog: true, outbound: [{ scheme: 'http', host: 'email.service.consul' }], mailTo: [] }, token: 't' }
  const caps = await serveCapabilities(saved as unknown as Parameters<typeof serveCapabilities>[0], { databaseUrl: 'postgres://nobody@127.0.0.1:1/none', consulDns: '127.0.0.1:1' }, 't', pino({ level: 'silent' }))
  t.after(() => caps.close())
  const call = (route: string, body: string) => fetch(`${caps.url}${route}`, { method: 'POST', headers: { authorization: 'Bearer t' }, body })
  for (const route of ['/request-log', '/outbox/email/send']) {
    const res = await call(route, JSON.stringify({ request_id: 'r', request_text: 'x', status: 'stored' }))
    assert.equal(res.status, 403, route)
    assert.deepEqual(await res.json(), { error: `${route === '/request-log' ? 'the request log' : 'the outbox'} needs the task's app, and its task config names none (app)`, code: 'LEAN_ERR_CAPABILITY_DENIED' })
  }
})

test('tasks of one job starting at once fetch their component once, and a refused source is refused even when cached', async () => {
  const { dir, spec, access } = await fixture()
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'component-cache-'))
  let fetches = 0
  const fetchBytes = async () => {
    fetches += 1
    await new Promise((resolve) => setTimeout(resolve, 50))
    return componentBytes
  }
  const source = spec.config.component
  const files = await Promise.all(
    Array.from({ length: 6 }, () => componentFile(source, componentSha256, cacheDir, access, fetchBytes)),
  )
  assert.equal(fetches, 1)
  assert.equal(new Set(files).size, 1)
  assert.deepEqual(await readFile(files[0]!), componentBytes)
  assert.deepEqual(
    (await readdir(path.join(cacheDir, 'components'))).sort(),
    [`${componentSha256}.wasm`],
    'no scratch file left',
  )
  // The digest is cached, but a client that does not allow the source still refuses it.
  const outside = path.join(dir, 'elsewhere.wasm')
  await assert.rejects(
    componentFile(outside, componentSha256, cacheDir, access, fetchBytes),
    (err: unknown) =>
      err instanceof DriverError &&
      err.code === 'LEAN_ERR_COMPONENT_SOURCE' &&
      /component_paths/.test(err.message),
  )
  await assert.rejects(
    componentFile(
      `s3://artifacts/other/${componentSha256}.wasm`,
      componentSha256,
      cacheDir,
      access,
      fetchBytes,
    ),
    (err: unknown) => err instanceof DriverError && err.code === 'LEAN_ERR_COMPONENT_SOURCE',
  )
  assert.equal(fetches, 1)
})
