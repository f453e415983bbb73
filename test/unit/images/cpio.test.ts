import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildCpio, type CpioEntry } from '../../../infra/images/cpio.ts'

interface Parsed {
  name: string
  mode: number
  nlink: number
  mtime: number
  uid: number
  rdev: [number, number]
  data: Buffer
}

/** A reader for the newc format, independent of the writer. */
function parse(archive: Buffer): Parsed[] {
  const out: Parsed[] = []
  let at = 0
  const align = (n: number) => (n + 3) & ~3
  for (;;) {
    assert.equal(archive.toString('ascii', at, at + 6), '070701', `magic at ${at}`)
    const field = (i: number) => parseInt(archive.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16)
    const namesize = field(11)
    const filesize = field(6)
    const name = archive.toString('utf8', at + 110, at + 110 + namesize - 1)
    assert.equal(archive[at + 110 + namesize - 1], 0, 'name ends with NUL')
    const dataAt = align(at + 110 + namesize)
    const entry = {
      name,
      mode: field(1),
      uid: field(2),
      nlink: field(4),
      mtime: field(5),
      rdev: [field(9), field(10)] as [number, number],
      data: archive.subarray(dataAt, dataAt + filesize),
    }
    at = align(dataAt + filesize)
    if (name === 'TRAILER!!!') break
    out.push(entry)
  }
  assert.equal(at, archive.length, 'nothing after the trailer')
  return out
}

const entries: CpioEntry[] = [
  { path: 'init', type: 'file', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
  { path: 'bin/sh', type: 'symlink', target: '/bin/busybox' },
  { path: 'bin', type: 'dir' },
  { path: 'dev', type: 'dir' },
  { path: 'dev/console', type: 'char', major: 5, minor: 1 },
  { path: 'bin/busybox', type: 'file', data: Buffer.from([1, 2, 3, 4, 5]), mode: 0o755 },
]

test('entries come out sorted, owned by root, with mtime 0 and 4-byte alignment', () => {
  const parsed = parse(buildCpio(entries))
  assert.deepEqual(
    parsed.map((e) => e.name),
    ['bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console', 'init'],
  )
  for (const e of parsed) {
    assert.equal(e.uid, 0)
    assert.equal(e.mtime, 0)
  }
  const byName = Object.fromEntries(parsed.map((e) => [e.name, e]))
  assert.equal(byName.bin!.mode, 0o040755)
  assert.equal(byName.bin!.nlink, 2)
  assert.equal(byName['bin/busybox']!.mode, 0o100755)
  assert.deepEqual([...byName['bin/busybox']!.data], [1, 2, 3, 4, 5])
  assert.equal(byName['bin/sh']!.mode, 0o120777)
  assert.equal(byName['bin/sh']!.data.toString(), '/bin/busybox')
  assert.equal(byName['dev/console']!.mode, 0o020600)
  assert.deepEqual(byName['dev/console']!.rdev, [5, 1])
  assert.equal(byName.init!.data.toString(), '#!/bin/sh\n')
})

test('equal entries in any order give equal bytes', () => {
  assert.deepEqual(buildCpio(entries), buildCpio([...entries].reverse()))
})

test('bad entries are refused', () => {
  assert.throws(
    () => buildCpio([{ path: 'bin/sh', type: 'symlink', target: 'busybox' }]),
    /without its directory bin/,
  )
  assert.throws(() => buildCpio([{ path: '/init', type: 'dir' }]), /relative path/)
  assert.throws(() => buildCpio([{ path: 'a/../b', type: 'dir' }]), /relative path/)
  assert.throws(
    () =>
      buildCpio([
        { path: 'a', type: 'dir' },
        { path: 'a', type: 'dir' },
      ]),
    /listed twice/,
  )
})
