import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import {
  canonicalJson,
  imageKey,
  parseImageKey,
  sha256Bytes,
  sha256File,
} from '../../../ground/digest.ts'

const digest = 'a'.repeat(64)

test('image files are named images/<sha256>.<ext>', () => {
  assert.equal(imageKey(digest, 'json'), `images/${digest}.json`)
  assert.equal(imageKey(digest, 'cpio.gz'), `images/${digest}.cpio.gz`)
  assert.deepEqual(parseImageKey(`images/${digest}.cpio.gz`), { sha256: digest, ext: 'cpio.gz' })
  assert.deepEqual(parseImageKey(`images/${digest}.qcow2`), { sha256: digest, ext: 'qcow2' })
})

test('a key needs a full lowercase sha256 and a known extension', () => {
  assert.throws(() => imageKey('abc', 'json'), /not a sha256 digest/)
  assert.throws(() => imageKey('A'.repeat(64), 'json'), /not a sha256 digest/)
  assert.throws(() => imageKey(digest, 'exe' as 'json'), /unknown image file extension 'exe'/)
  assert.equal(parseImageKey(`images/${digest}.exe`), undefined)
  assert.equal(parseImageKey(`components/${digest}.wasm`), undefined)
  assert.equal(parseImageKey(`images/${digest.slice(1)}.json`), undefined)
})

test('canonical JSON sorts keys at every level and drops undefined', () => {
  const a = canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } })
  assert.equal(a, '{"a":{"d":[{"y":2,"z":1}]},"b":1}\n')
  assert.equal(canonicalJson({ a: { d: [{ y: 2, z: 1 }] }, b: 1 }), a)
})

test('file digests match byte digests', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'digest-'))
  try {
    const file = path.join(dir, 'f')
    await writeFile(file, 'hello\n')
    assert.deepEqual(await sha256File(file), { sha256: sha256Bytes('hello\n'), size: 6 })
    assert.equal(sha256Bytes('hello\n'), '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a digesting stream passes the bytes through, hashes and counts them, and stops past its limit with the caller\'s error', async () => {
  const { digestingStream, sha256Bytes } = await import('../../../ground/digest.ts')
  const { Readable, Writable } = await import('node:stream')
  const { pipeline } = await import('node:stream/promises')
  const chunks: Buffer[] = []
  const sink = () => new Writable({ write(chunk: Buffer, _e, done) { chunks.push(chunk); done() } })
  const ok = digestingStream(10, () => new Error('too large'))
  await pipeline(Readable.from([Buffer.from('hello '), Buffer.from('you')]), ok.stream, sink())
  assert.deepEqual(ok.result(), { sha256: sha256Bytes('hello you'), size: 9 })
  assert.equal(Buffer.concat(chunks).toString(), 'hello you')
  const over = digestingStream(4, () => new RangeError('over four bytes'))
  await assert.rejects(pipeline(Readable.from([Buffer.from('abc'), Buffer.from('de')]), over.stream, sink()), RangeError)
})
