import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { sha256Bytes } from '../../../ground/digest.ts'
import type { BuiltManifest } from '../../../ground/image-manifest.ts'
import { VirtError, type VirtErrorCode } from '../../../task-driver/virt/errors.ts'
import { ensureImage, insideAllowList } from '../../../task-driver/virt/image-cache.ts'
import { diskImage, HOST_FILE_BACKING, kernelImage, qcow2 } from '../../harness/image-fixtures.ts'

const root = await mkdtemp(path.join(os.tmpdir(), 'virt-image-cache-'))
after(() => rm(root, { recursive: true, force: true }))

let dirs = 0
/** A fresh directory under the test's temp root. */
async function freshDir(name: string): Promise<string> {
  const dir = path.join(root, `${name}-${++dirs}`)
  await mkdir(dir, { recursive: true })
  return dir
}

interface Store {
  readonly dir: string
  readonly built: BuiltManifest
  readonly kernel: Buffer
  readonly initrd: Buffer
  readonly manifestPath: string
}

/** An image store: a kernel image's files as `<sha256>.<ext>` beside its manifest `<sha256>.json`. */
async function makeStore(dir: string, seed = 'tiny'): Promise<Store> {
  const kernel = Buffer.from(`kernel bytes of ${seed}\n`.repeat(1000))
  const initrd = Buffer.from(`initrd bytes of ${seed}\n`.repeat(700))
  const built = kernelImage(seed, kernel, initrd, {
    cmdline: 'console=ttyS0 quiet',
    guest: { readyLine: 'READY', httpPort: 8080 },
  })
  await writeFile(path.join(dir, `${sha256Bytes(kernel)}.vmlinuz`), kernel)
  await writeFile(path.join(dir, `${sha256Bytes(initrd)}.cpio.gz`), initrd)
  const manifestPath = path.join(dir, `${built.sha256}.json`)
  await writeFile(manifestPath, built.text)
  return { dir, built, kernel, initrd, manifestPath }
}

function virtError(code: VirtErrorCode, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof VirtError, `expected a VirtError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (message) assert.match(err.message, message)
    return true
  }
}

test('files are verified into the cache as <sha256>.<ext>: fetched the first time, not the second', async () => {
  const store = await makeStore(await freshDir('store'))
  const cacheDir = path.join(await freshDir('cache'), 'not-yet-made')
  const source = { sha256: store.built.sha256, location: store.manifestPath }
  const options = { cacheDir, imagePaths: [store.dir] }

  const first = await ensureImage(source, options)
  assert.equal(first.fetched, true)
  assert.equal(first.sha256, store.built.sha256)
  assert.deepEqual(first.manifest, store.built.manifest)
  const k = sha256Bytes(store.kernel)
  const i = sha256Bytes(store.initrd)
  assert.deepEqual(
    first.files,
    new Map([
      [k, path.join(cacheDir, `${k}.vmlinuz`)],
      [i, path.join(cacheDir, `${i}.cpio.gz`)],
    ]),
  )
  assert.deepEqual(
    (await readdir(cacheDir)).sort(),
    [`${store.built.sha256}.json`, `${k}.vmlinuz`, `${i}.cpio.gz`].sort(),
  )
  assert.deepEqual(await readFile(path.join(cacheDir, `${k}.vmlinuz`)), store.kernel)
  assert.deepEqual(await readFile(path.join(cacheDir, `${i}.cpio.gz`)), store.initrd)
  assert.equal(await readFile(path.join(cacheDir, `${store.built.sha256}.json`), 'utf8'), store.built.text)

  const second = await ensureImage(source, options)
  assert.equal(second.fetched, false)
  assert.deepEqual(second.files, first.files)
  assert.deepEqual(second.manifest, first.manifest)
})

test('a manifest stored under another name is cached under its digest', async () => {
  const store = await makeStore(await freshDir('store'), 'renamed')
  const named = path.join(store.dir, 'tiny-latest.json')
  await writeFile(named, store.built.text)
  await rm(store.manifestPath)
  const cacheDir = await freshDir('cache')
  const got = await ensureImage(
    { sha256: store.built.sha256, location: named },
    { cacheDir, imagePaths: [store.dir] },
  )
  assert.equal(got.fetched, true)
  assert.ok((await readdir(cacheDir)).includes(`${store.built.sha256}.json`))
  assert.ok(!(await readdir(cacheDir)).includes('tiny-latest.json'))
})

test('a manifest outside image_paths is refused with LEAN_ERR_VIRT_IMAGE_PATH, directly or through a symlink', async () => {
  const store = await makeStore(await freshDir('outside'))
  const allowed = await freshDir('allowed')
  const cacheDir = await freshDir('cache')
  const sha256 = store.built.sha256

  await assert.rejects(
    ensureImage({ sha256, location: store.manifestPath }, { cacheDir, imagePaths: [allowed] }),
    virtError(
      'LEAN_ERR_VIRT_IMAGE_PATH',
      new RegExp(store.manifestPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    ),
  )
  await assert.rejects(
    ensureImage({ sha256, location: store.manifestPath }, { cacheDir, imagePaths: [] }),
    virtError('LEAN_ERR_VIRT_IMAGE_PATH', /none configured/),
  )
  // A symlink inside the allowed directory that points out of it.
  const link = path.join(allowed, `${sha256}.json`)
  await symlink(store.manifestPath, link)
  await assert.rejects(
    ensureImage({ sha256, location: link }, { cacheDir, imagePaths: [allowed] }),
    virtError('LEAN_ERR_VIRT_IMAGE_PATH'),
  )
  // A directory that merely shares the allowed directory's name as a prefix.
  await assert.rejects(
    ensureImage({ sha256, location: store.manifestPath }, { cacheDir, imagePaths: [store.dir.slice(0, -1)] }),
    virtError('LEAN_ERR_VIRT_IMAGE_PATH'),
  )
  assert.deepEqual(await readdir(cacheDir), [])
})

test('an image file that is a symlink out of image_paths is refused, and not cached', async () => {
  const store = await makeStore(await freshDir('store'))
  const elsewhere = await freshDir('elsewhere')
  const k = sha256Bytes(store.kernel)
  const kernelPath = path.join(store.dir, `${k}.vmlinuz`)
  await writeFile(path.join(elsewhere, 'kernel'), store.kernel)
  await rm(kernelPath)
  await symlink(path.join(elsewhere, 'kernel'), kernelPath)
  const cacheDir = await freshDir('cache')
  await assert.rejects(
    ensureImage(
      { sha256: store.built.sha256, location: store.manifestPath },
      { cacheDir, imagePaths: [store.dir] },
    ),
    virtError('LEAN_ERR_VIRT_IMAGE_PATH', new RegExp(`${k}\\.vmlinuz`)),
  )
  assert.ok(!(await readdir(cacheDir)).includes(`${k}.vmlinuz`))
})

test('a manifest whose bytes do not match the sha256 asked for: LEAN_ERR_VIRT_IMAGE_DIGEST, nothing cached', async () => {
  const store = await makeStore(await freshDir('store'))
  const cacheDir = await freshDir('cache')
  const wrong = sha256Bytes('some other manifest')
  await assert.rejects(
    ensureImage({ sha256: wrong, location: store.manifestPath }, { cacheDir, imagePaths: [store.dir] }),
    virtError('LEAN_ERR_VIRT_IMAGE_DIGEST', new RegExp(`${store.built.sha256}[\\s\\S]*${wrong}`)),
  )
  assert.deepEqual(await readdir(cacheDir), [])

  // The same when the manifest file itself was altered after it was named.
  await writeFile(store.manifestPath, store.built.text.replace('"tiny"', '"evil"'))
  await assert.rejects(
    ensureImage(
      { sha256: store.built.sha256, location: store.manifestPath },
      { cacheDir, imagePaths: [store.dir] },
    ),
    virtError('LEAN_ERR_VIRT_IMAGE_DIGEST', /image manifest/),
  )
  assert.deepEqual(await readdir(cacheDir), [])
})

test('a tampered image file: LEAN_ERR_VIRT_IMAGE_DIGEST naming it, no partial file left', async () => {
  const k = (s: Store) => sha256Bytes(s.kernel)
  const cases: Array<[string, (s: Store) => Buffer]> = [
    ['same size', (s) => Buffer.from(s.kernel).fill(0x41, 0, 16)],
    ['larger', (s) => Buffer.concat([s.kernel, Buffer.alloc(256 * 1024, 0x42)])],
    ['smaller', (s) => s.kernel.subarray(0, 100)],
  ]
  for (const [what, tamper] of cases) {
    const store = await makeStore(await freshDir('store'), 'tampered')
    await writeFile(path.join(store.dir, `${k(store)}.vmlinuz`), tamper(store))
    const cacheDir = await freshDir('cache')
    await assert.rejects(
      ensureImage(
        { sha256: store.built.sha256, location: store.manifestPath },
        { cacheDir, imagePaths: [store.dir] },
      ),
      virtError('LEAN_ERR_VIRT_IMAGE_DIGEST', new RegExp(`image file images/${k(store)}\\.vmlinuz`)),
      what,
    )
    // Only the (verified) manifest may be there: no kernel, no partial download.
    assert.deepEqual(await readdir(cacheDir), [`${store.built.sha256}.json`], what)
  }
})

test('a disk image that names a backing file, put beside its manifest without the API, is refused and not cached', async () => {
  const dir = await freshDir('store')
  const disk = await qcow2(dir, 'made.qcow2', '1M', ...HOST_FILE_BACKING)
  const built = diskImage('hostile', disk)
  await writeFile(path.join(dir, `${sha256Bytes(disk)}.qcow2`), disk)
  await writeFile(path.join(dir, `${built.sha256}.json`), built.text)
  const cacheDir = await freshDir('cache')
  await assert.rejects(
    ensureImage(
      { sha256: built.sha256, location: path.join(dir, `${built.sha256}.json`) },
      { cacheDir, imagePaths: [dir] },
    ),
    virtError(
      'LEAN_ERR_VIRT_IMAGE',
      /image file images\/[0-9a-f]{64}\.qcow2 is refused: it names a backing file/,
    ),
  )
  assert.deepEqual(
    (await readdir(cacheDir)).filter((f) => f.endsWith('.qcow2') || f.includes('.partial')),
    [],
  )
})

test('a missing image file: LEAN_ERR_VIRT_IMAGE naming it', async () => {
  const store = await makeStore(await freshDir('store'))
  const i = sha256Bytes(store.initrd)
  await rm(path.join(store.dir, `${i}.cpio.gz`))
  const cacheDir = await freshDir('cache')
  await assert.rejects(
    ensureImage(
      { sha256: store.built.sha256, location: store.manifestPath },
      { cacheDir, imagePaths: [store.dir] },
    ),
    virtError('LEAN_ERR_VIRT_IMAGE', new RegExp(`${i}\\.cpio\\.gz does not exist`)),
  )
  assert.ok(!(await readdir(cacheDir)).some((n) => n.includes('partial')))
})

test('concurrent ensureImage calls for one image both succeed, sharing one copy', async () => {
  const store = await makeStore(await freshDir('store'), 'concurrent')
  const cacheDir = await freshDir('cache')
  const source = { sha256: store.built.sha256, location: store.manifestPath }
  const options = { cacheDir, imagePaths: [store.dir] }
  const results = await Promise.all([ensureImage(source, options), ensureImage(source, options)])
  assert.deepEqual(results[0].files, results[1].files)
  assert.ok(results.some((r) => r.fetched))
  assert.equal((await readdir(cacheDir)).length, 3)
  for (const file of results[0].files.values())
    assert.equal(sha256Bytes(await readFile(file)), path.basename(file).split('.')[0])
  const again = await ensureImage(source, options)
  assert.equal(again.fetched, false)
})

test('insideAllowList: inside a listed directory, resolved through symlinks', async () => {
  const base = await freshDir('allow')
  const allowed = path.join(base, 'images')
  const sibling = path.join(base, 'images-other')
  await mkdir(allowed)
  await mkdir(sibling)
  await writeFile(path.join(allowed, 'a.json'), '{}')
  await writeFile(path.join(sibling, 'b.json'), '{}')
  await mkdir(path.join(allowed, 'nested'))
  await writeFile(path.join(allowed, 'nested', 'c.json'), '{}')
  await symlink(path.join(sibling, 'b.json'), path.join(allowed, 'out.json'))
  await symlink(allowed, path.join(base, 'images-link'))

  assert.equal(await insideAllowList(path.join(allowed, 'a.json'), [allowed]), true)
  assert.equal(await insideAllowList(path.join(allowed, 'nested', 'c.json'), [allowed]), true)
  assert.equal(await insideAllowList(path.join(allowed, 'a.json'), [`${allowed}/`]), true)
  assert.equal(await insideAllowList(path.join(allowed, 'a.json'), [sibling, allowed]), true)
  assert.equal(await insideAllowList(path.join(sibling, 'b.json'), [allowed]), false)
  assert.equal(await insideAllowList(path.join(allowed, 'out.json'), [allowed]), false)
  assert.equal(await insideAllowList(path.join(allowed, '..', 'images-other', 'b.json'), [allowed]), false)
  assert.equal(await insideAllowList(path.join(allowed, 'a.json'), []), false)
  assert.equal(await insideAllowList(allowed, [allowed]), false)
  // The allow-list entry itself may be a symlink to the real directory, and the file named through it.
  assert.equal(await insideAllowList(path.join(allowed, 'a.json'), [path.join(base, 'images-link')]), true)
  assert.equal(await insideAllowList(path.join(base, 'images-link', 'a.json'), [allowed]), true)
  // A file not there (yet) is judged by its path.
  assert.equal(await insideAllowList(path.join(allowed, 'missing.json'), [allowed]), true)
  assert.equal(await insideAllowList(path.join(sibling, 'missing.json'), [allowed]), false)
})
