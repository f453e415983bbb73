import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { DriverError } from '../../../task-driver/kit/errors.ts'
import { defaultComponentSources, fetchComponent, fetchVerifiedComponent } from '../../../task-driver/wasm/fetch-component.ts'
import { readLocalComponent } from '../../../task-driver/wasm/fetch-local.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const bytes = Buffer.from('component bytes')

/** allowed/ (the allow-list), outside/ beside it, each with a file. */
async function tree() {
  const root = await mkdtemp(path.join(tmpdir(), 'fetch-local-'))
  const allowed = path.join(root, 'allowed')
  const outside = path.join(root, 'outside')
  await mkdir(path.join(allowed, 'sub'), { recursive: true })
  await mkdir(outside)
  await writeFile(path.join(allowed, 'sub', 'c.wasm'), bytes)
  await writeFile(path.join(outside, 'secret'), 'secret bytes')
  return { root, allowed, outside }
}

const code = (c: string, message?: RegExp) => (err: unknown) =>
  err instanceof DriverError && err.code === c && (message === undefined || message.test(err.message))

test('a file inside component_paths is read, also through a link that stays inside', async (t) => {
  const { root, allowed } = await tree()
  t.after(() => rm(root, { recursive: true, force: true }))
  assert.deepEqual(await readLocalComponent(path.join(allowed, 'sub', 'c.wasm'), [allowed], 1024), bytes)
  await symlink(path.join(allowed, 'sub', 'c.wasm'), path.join(allowed, 'link.wasm'))
  assert.deepEqual(await readLocalComponent(path.join(allowed, 'link.wasm'), [allowed], 1024), bytes)
  // An allowed directory reached through a link of its own: either spelling of the path works.
  const alias = path.join(root, 'alias')
  await symlink(allowed, alias)
  assert.deepEqual(await readLocalComponent(path.join(allowed, 'sub', 'c.wasm'), [alias], 1024), bytes)
  assert.deepEqual(await readLocalComponent(path.join(alias, 'sub', 'c.wasm'), [allowed], 1024), bytes)
})

test('a path outside component_paths is refused naming the option, the same whether it exists or not', async (t) => {
  const { root, allowed, outside } = await tree()
  t.after(() => rm(root, { recursive: true, force: true }))
  const messages: string[] = []
  for (const file of [path.join(outside, 'secret'), path.join(outside, 'nothing-here'), '/etc/hostname']) {
    await assert.rejects(readLocalComponent(file, [allowed], 1024), (err: unknown) => {
      assert.ok(err instanceof DriverError)
      assert.equal(err.code, 'LEAN_ERR_COMPONENT_SOURCE')
      messages.push(err.message.replace(file, '<file>'))
      return true
    })
  }
  assert.equal(new Set(messages).size, 1, messages.join('\n'))
  assert.match(messages[0]!, /outside the directories the wasm plugin allows \(component_paths: .*allowed\)/)
  // With no component_paths at all, nothing local is read.
  await assert.rejects(
    readLocalComponent(path.join(allowed, 'sub', 'c.wasm'), [], 1024),
    code('LEAN_ERR_COMPONENT_SOURCE', /component_paths: none configured/),
  )
})

test('a link inside that leads outside reads exactly like a file that is not there', async (t) => {
  const { root, allowed, outside } = await tree()
  t.after(() => rm(root, { recursive: true, force: true }))
  await symlink(path.join(outside, 'secret'), path.join(allowed, 'to-existing'))
  await symlink(path.join(outside, 'nothing-here'), path.join(allowed, 'to-missing'))
  await symlink(outside, path.join(allowed, 'dir-link'))
  const messages: string[] = []
  for (const name of ['to-existing', 'to-missing', 'absent.wasm', 'dir-link/secret']) {
    const file = path.join(allowed, name)
    await assert.rejects(readLocalComponent(file, [allowed], 1024), (err: unknown) => {
      assert.ok(err instanceof DriverError)
      assert.equal(err.code, 'LEAN_ERR_COMPONENT_FETCH')
      assert.doesNotMatch(err.message, /secret bytes|12 bytes/)
      messages.push(err.message.replace(file, '<file>'))
      return true
    })
  }
  assert.equal(new Set(messages).size, 1, messages.join('\n'))
  assert.match(messages[0]!, /no such file inside the wasm plugin's component_paths/)
})

test('a directory or a FIFO inside is not read', async (t) => {
  const { root, allowed } = await tree()
  t.after(() => rm(root, { recursive: true, force: true }))
  await assert.rejects(
    readLocalComponent(path.join(allowed, 'sub'), [allowed], 1024),
    code('LEAN_ERR_COMPONENT_FETCH', /not a regular file/),
  )
  const fifo = path.join(allowed, 'pipe.wasm')
  await promisify(execFile)('mkfifo', [fifo])
  await assert.rejects(
    readLocalComponent(fifo, [allowed], 1024),
    code('LEAN_ERR_COMPONENT_FETCH', /not a regular file/),
    'no writer: the open must not block',
  )
})

test('a file over component_max_size is refused before it is read', async (t) => {
  const { root, allowed } = await tree()
  t.after(() => rm(root, { recursive: true, force: true }))
  await assert.rejects(
    readLocalComponent(path.join(allowed, 'sub', 'c.wasm'), [allowed], bytes.length - 1),
    code('LEAN_ERR_COMPONENT_TOO_LARGE', /component_max_size \(14 bytes\)/),
  )
  assert.deepEqual(
    await readLocalComponent(path.join(allowed, 'sub', 'c.wasm'), [allowed], bytes.length),
    bytes,
  )
})

test('a digest mismatch names neither the digest nor the size of what was read', async (t) => {
  const { root, allowed, outside } = await tree()
  t.after(() => rm(root, { recursive: true, force: true }))
  const access = { ...defaultComponentSources(), paths: [allowed] }
  const file = path.join(allowed, 'sub', 'c.wasm')
  assert.deepEqual(await fetchVerifiedComponent(file, sha(bytes), access), bytes)
  const expected = 'e'.repeat(64)
  await assert.rejects(fetchVerifiedComponent(file, expected, access), (err: unknown) => {
    assert.ok(err instanceof DriverError)
    assert.equal(err.code, 'LEAN_ERR_COMPONENT_DIGEST')
    assert.match(err.message, /its sha256 is not the one the task config names/)
    assert.ok(!err.message.includes(sha(bytes)), err.message)
    assert.doesNotMatch(err.message, /\b15\b|bytes/)
    return true
  })
  // The old hash oracle: a host file named as the source, outside the allow-list, is never read.
  await assert.rejects(
    fetchVerifiedComponent(path.join(outside, 'secret'), expected, access),
    code('LEAN_ERR_COMPONENT_SOURCE'),
  )
})

test('fetchComponent refuses malformed sources and other S3 objects before any read', async () => {
  const digest = 'a'.repeat(64)
  const access = defaultComponentSources()
  for (const source of [
    's3://artifacts/hello.wasm',
    `s3://other/components/${digest}.wasm`,
    'relative.wasm',
    '/srv/../etc/hostname',
  ]) {
    await assert.rejects(fetchComponent(source, digest, access), code('LEAN_ERR_COMPONENT_SOURCE'), source)
  }
  await assert.rejects(
    fetchComponent(`s3://artifacts/components/${digest}.wasm`, digest, access),
    code('LEAN_ERR_COMPONENT_FETCH', /no s3 settings/),
  )
})
