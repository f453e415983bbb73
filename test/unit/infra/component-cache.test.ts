// The example components' build cache: the key follows every input (a file's
// name and bytes, a tool's version), a stored build is found again by its
// key, and storing a new one drops that example's older builds only.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import {
  cachedComponent,
  cacheRoot,
  filesUnder,
  inputsKey,
  storeComponent,
} from '../../../infra/components/component-cache.ts'

test('the cache key changes with a file, its name or a version, and only then', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'component-key-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await mkdir(path.join(dir, 'src', '__pycache__'), { recursive: true })
  await writeFile(path.join(dir, 'src', 'a.py'), 'print(1)\n')
  await writeFile(path.join(dir, 'src', '__pycache__', 'a.pyc'), 'litter')
  const files = await filesUnder(path.join(dir, 'src'))
  assert.deepEqual(files, [path.join(dir, 'src', 'a.py')], 'build litter is no input')
  // Only names below the folder count as litter, not the folder's own path.
  await mkdir(path.join(dir, 'target', 'src'), { recursive: true })
  await writeFile(path.join(dir, 'target', 'src', 'a.rs'), '')
  assert.equal((await filesUnder(path.join(dir, 'target', 'src'))).length, 1)

  const key = await inputsKey(dir, files, ['tool 1.0'])
  assert.match(key, /^[0-9a-f]{20}$/)
  assert.equal(await inputsKey(dir, files, ['tool 1.0']), key)
  assert.notEqual(await inputsKey(dir, files, ['tool 1.1']), key)
  await writeFile(path.join(dir, 'src', 'a.py'), 'print(2)\n')
  assert.notEqual(await inputsKey(dir, files, ['tool 1.0']), key)
  await writeFile(path.join(dir, 'src', 'a.py'), 'print(1)\n')
  await writeFile(path.join(dir, 'src', 'b.py'), 'print(1)\n')
  assert.notEqual(await inputsKey(dir, [path.join(dir, 'src', 'b.py')], ['tool 1.0']), key)
})

test('a stored build is found by its key; a newer one replaces that example’s older builds', async (t) => {
  const cache = await mkdtemp(path.join(tmpdir(), 'component-cache-'))
  const saved = process.env.LEAN_CLOUD_CACHE
  process.env.LEAN_CLOUD_CACHE = cache
  t.after(async () => {
    if (saved === undefined) delete process.env.LEAN_CLOUD_CACHE
    else process.env.LEAN_CLOUD_CACHE = saved
    await rm(cache, { recursive: true, force: true })
  })
  assert.equal(cacheRoot(), cache)
  const built = path.join(cache, 'out.wasm')
  await writeFile(built, 'one')
  assert.equal(await cachedComponent('rust-hello', 'k1'), undefined)
  const first = await storeComponent('rust-hello', 'k1', built)
  assert.deepEqual(await cachedComponent('rust-hello', 'k1'), first)
  assert.equal(first.sha256, '7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed')

  await storeComponent('python-hello', 'k1', built)
  await writeFile(built, 'two')
  await storeComponent('rust-hello', 'k2', built)
  assert.equal(await cachedComponent('rust-hello', 'k1'), undefined)
  assert.deepEqual((await readdir(path.join(cache, 'components'))).sort(), [
    'python-hello-k1.wasm',
    'rust-hello-k2.wasm',
  ])
})
