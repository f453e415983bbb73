import assert from 'node:assert/strict'
import { test } from 'node:test'
import { partitionTable, uuidFromDigest } from '../../../infra/images/mbr.ts'

test('one bootable Linux partition from 1 MiB to the end of a 2 GiB disk', () => {
  const sectors = (2048 * 2 ** 20) / 512
  const t = partitionTable([{ start: 2048, sectors: sectors - 2048, type: 0x83, bootable: true }])
  assert.equal(t.length, 66)
  assert.equal(t[0], 0x80)
  assert.equal(t[4], 0x83)
  assert.equal(t.readUInt32LE(8), 2048)
  assert.equal(t.readUInt32LE(12), sectors - 2048)
  assert.ok(
    t.subarray(16, 64).every((b) => b === 0),
    'other entries empty',
  )
  assert.deepEqual([t[64], t[65]], [0x55, 0xaa])
})

test('partitions an MBR cannot hold are refused', () => {
  const p = { start: 2048, sectors: 10, type: 0x83, bootable: false }
  assert.throws(() => partitionTable([p, p, p, p, p]), /at most four/)
  assert.throws(() => partitionTable([{ ...p, sectors: 2 ** 32 }]), /does not fit/)
  assert.throws(() => partitionTable([{ ...p, start: 0 }]), /does not fit/)
})

test('a filesystem UUID from a digest is stable and has the UUID v4 shape', () => {
  const hex = 'f'.repeat(64)
  const uuid = uuidFromDigest(hex)
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.equal(uuidFromDigest(hex), uuid)
  assert.notEqual(uuidFromDigest('0'.repeat(64)), uuid)
  assert.throws(() => uuidFromDigest('abc'), /32 hex digits/)
})
