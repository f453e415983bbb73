import assert from 'node:assert/strict'
import { test } from 'node:test'
import type * as Minio from 'minio'
import { buildManifest, imageFile } from '../../../ground/image-manifest.ts'
import { imagePaths } from '../../../infra/images/paths.ts'
import { publishImage } from '../../../infra/images/publish.ts'

/** Just the two calls publishImage makes, recorded. */
function fakeS3(present: string[]) {
  const puts: Array<{ key: string; file: string; meta: Record<string, string> }> = []
  const client = {
    statObject: async (_bucket: string, key: string) => {
      if (!present.includes(key)) throw Object.assign(new Error('Not Found'), { code: 'NotFound' })
      return {}
    },
    fPutObject: async (_bucket: string, key: string, file: string, meta: Record<string, string>) => {
      puts.push({ key, file, meta })
      return {}
    },
  }
  return { s3: client as unknown as Minio.Client, puts }
}

const k = '1'.repeat(64)
const i = '2'.repeat(64)
const built = buildManifest({
  name: 'tiny',
  arch: 'x86_64',
  boot: {
    kind: 'kernel',
    kernel: imageFile(k, 10, 'vmlinuz'),
    initrd: imageFile(i, 10, 'cpio.gz'),
    cmdline: 'console=ttyS0',
  },
  guest: { serial: 'ttyS0', readyLine: 'READY', httpPort: 8080, seed: 'nocloud', minMemoryMiB: 128 },
  packages: [],
})
const image = { name: 'tiny', sha256: built.sha256, manifest: built.manifest, manifestFile: '/unused' }
const paths = imagePaths({ LEAN_CLOUD_CACHE: '/cache' })

test('files go up from the local store under their digests, the manifest last', async () => {
  const { s3, puts } = fakeS3([])
  const r = await publishImage(s3, paths, image)
  assert.deepEqual(
    puts.map((p) => p.key),
    [`images/${k}.vmlinuz`, `images/${i}.cpio.gz`, `images/${built.sha256}.json`],
  )
  assert.equal(puts[0]!.file, `/cache/images/store/${k}.vmlinuz`)
  assert.equal(puts[2]!.file, `/cache/images/store/${built.sha256}.json`)
  assert.equal(puts[2]!.meta['Content-Type'], 'application/json')
  assert.equal(puts[1]!.meta['x-amz-meta-sha256'], i)
  assert.equal(r.bucket, 'artifacts')
  assert.equal(r.uploaded.length, 3)
})

test('objects already in S3 are left alone (same key, same bytes)', async () => {
  const { s3, puts } = fakeS3([`images/${k}.vmlinuz`])
  const r = await publishImage(s3, paths, image)
  assert.deepEqual(r.present, [`images/${k}.vmlinuz`])
  assert.deepEqual(
    puts.map((p) => p.key),
    [`images/${i}.cpio.gz`, `images/${built.sha256}.json`],
  )
})
