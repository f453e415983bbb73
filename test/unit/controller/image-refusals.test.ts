// Uploaded disk images are hostile until qemu-img says otherwise: a qcow2 that
// names a backing file or an external data file (a host path, or a json:
// description of one), a file that is no qcow2, a virtual disk over the limit
// and a body over the file-size limit are refused, naming the file and the
// reason, and nothing is stored. The qcow2 files are made by the real qemu-img.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { ImageStore } from '../../../controller/image-store.ts'
import { judgeDiskImage } from '../../../task-driver/virt/disk-image.ts'
import { HOST_FILE_BACKING, qcow2 } from '../../harness/image-fixtures.ts'
import { api, MemoryObjects } from './stubs.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const headers = { 'content-type': 'application/octet-stream', 'x-consul-token': 'operator' }

test('uploaded qcow2 files: only one standing alone within the limits is stored', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-image-refusals-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const objects = new MemoryObjects()
  const app = api({
    images: new ImageStore(objects, undefined, {
      maxFileBytes: 4 * 1024 * 1024,
      maxDiskBytes: 64 * 1024 * 1024,
    }),
  })
  const put = (bytes: Buffer, ext = 'qcow2') =>
    app.inject({ method: 'PUT', url: `/v1/images/files/${sha(bytes)}.${ext}`, payload: bytes, headers })

  const refusals: [string, Buffer, RegExp][] = [
    [
      'a backing file on the host',
      await qcow2(dir, 'backing.qcow2', '1M', ...HOST_FILE_BACKING),
      /names a backing file/,
    ],
    [
      'a json: backing file',
      await qcow2(
        dir,
        'json.qcow2',
        '1M',
        '-u',
        '-b',
        'json:{"file.driver":"file","file.filename":"/etc/shadow"}',
        '-F',
        'raw',
      ),
      /names a backing file/,
    ],
    [
      'an external data file',
      await qcow2(dir, 'data.qcow2', '1M', '-o', `data_file=${path.join(dir, 'data.raw')}`),
      /names an external data file/,
    ],
    [
      'a virtual disk over the limit',
      await qcow2(dir, 'huge.qcow2', '1T'),
      /virtual disk is 1099511627776 bytes, more than the 67108864 allowed/,
    ],
    ['no qcow2 at all', Buffer.alloc(64 * 1024, 7), /cannot read it as qcow2: .*not in qcow2 format/],
  ]
  for (const [what, bytes, reason] of refusals) {
    const res = await put(bytes)
    assert.equal(res.statusCode, 400, what)
    assert.equal(res.json().code, 'LEAN_ERR_IMAGE_REFUSED', what)
    assert.match(res.json().message, new RegExp(`^${sha(bytes)}\\.qcow2 is refused: `), what)
    assert.match(res.json().message, reason, what)
    assert.match(res.json().message, /nothing was stored$/, what)
    assert.doesNotMatch(res.json().message, /shadow/, `${what}: the answer does not echo the path`)
  }
  assert.equal(objects.objects.size, 0, 'nothing was stored')

  const big = Buffer.alloc(5 * 1024 * 1024, 1)
  const tooLarge = await put(big, 'vmlinuz')
  assert.equal(tooLarge.statusCode, 413)
  assert.equal(tooLarge.json().code, 'LEAN_ERR_IMAGE_TOO_LARGE')
  assert.match(
    tooLarge.json().message,
    /larger than the 4194304 bytes an image file may be \(LEAN_IMAGE_MAX_FILE_SIZE\); nothing was stored/,
  )
  assert.equal(objects.objects.size, 0)

  const plain = await qcow2(dir, 'plain.qcow2', '32M')
  const ok = await put(plain)
  assert.equal(ok.statusCode, 201, ok.body)
  assert.deepEqual([...objects.objects.keys()], [`images/${sha(plain)}.qcow2`])
})

test('judging qemu-img info: format, backing and data files, virtual size', () => {
  const base = {
    format: 'qcow2',
    'virtual-size': 1024,
    'format-specific': { type: 'qcow2', data: { compat: '1.1' } },
  }
  assert.deepEqual(judgeDiskImage(base, 'qcow2'), { ok: true, format: 'qcow2', virtualBytes: 1024 })
  assert.match(
    String((judgeDiskImage({ ...base, format: 'raw' }, 'qcow2') as { reason: string }).reason),
    /not a qcow2 image \(qemu-img reads it as raw\)/,
  )
  assert.equal(judgeDiskImage({ ...base, 'full-backing-filename': 'x' }, 'qcow2').ok, false)
  assert.equal(
    judgeDiskImage(
      { ...base, 'format-specific': { type: 'qcow2', data: { 'data-file-raw': true } } },
      'qcow2',
    ).ok,
    false,
  )
  assert.equal(
    judgeDiskImage({ ...base, 'virtual-size': 2048 }, 'qcow2', { maxVirtualBytes: 1024 }).ok,
    false,
  )
  assert.equal(judgeDiskImage({ format: 'qcow2' }, 'qcow2').ok, false)
  assert.equal(judgeDiskImage(null, 'qcow2').ok, false)
})
