import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sha256Bytes } from '../../../ground/digest.ts'
import {
  buildManifest,
  imageFile,
  manifestFiles,
  parseManifest,
  type ImageManifest,
} from '../../../ground/image-manifest.ts'

const k = '1'.repeat(64)
const i = '2'.repeat(64)
const d = '3'.repeat(64)

function tiny(
  packages = [
    { name: 'linux-image-6.1.0-57-cloud-amd64', version: '6.1.192-3', sha256: '4'.repeat(64) },
    { name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1' },
  ],
): Omit<ImageManifest, 'schema'> {
  return {
    name: 'tiny',
    arch: 'x86_64',
    boot: {
      kind: 'kernel',
      kernel: imageFile(k, 14_190_528, 'vmlinuz'),
      initrd: imageFile(i, 1_600_000, 'cpio.gz'),
      cmdline: 'console=ttyS0 quiet',
    },
    guest: { serial: 'ttyS0', readyLine: 'READY', httpPort: 8080, seed: 'nocloud', minMemoryMiB: 128 },
    packages,
  }
}

test('a manifest is canonical JSON stored under its own digest', () => {
  const built = buildManifest(tiny())
  assert.equal(built.sha256, sha256Bytes(built.text))
  assert.equal(built.key, `images/${built.sha256}.json`)
  assert.equal(built.manifest.schema, 'lean-cloud.image/v1')
  assert.ok(built.text.endsWith('\n'))
  assert.deepEqual(JSON.parse(built.text), built.manifest)
  // Its files are named by digest and size, kernel first.
  assert.deepEqual(
    manifestFiles(built.manifest).map((f) => f.key),
    [`images/${k}.vmlinuz`, `images/${i}.cpio.gz`],
  )
})

test('equal content gives an equal digest, whatever the order of packages', () => {
  const a = buildManifest(tiny())
  const b = buildManifest(tiny([...tiny().packages].reverse()))
  assert.equal(a.sha256, b.sha256)
  assert.deepEqual(
    a.manifest.packages.map((p) => p.name),
    ['busybox-static', 'linux-image-6.1.0-57-cloud-amd64'],
  )
  assert.notEqual(buildManifest({ ...tiny(), name: 'tiny-2' }).sha256, a.sha256)
})

test('parseManifest checks the digest it was fetched under', () => {
  const built = buildManifest(tiny())
  assert.deepEqual(parseManifest(built.text, built.sha256), built.manifest)
  assert.throws(
    () => parseManifest(built.text.replace('READY', 'READX'), built.sha256),
    /does not match its digest/,
  )
  assert.throws(() => parseManifest('not json'), /not JSON/)
})

test('parseManifest rejects what a driver could not boot', () => {
  const m = buildManifest(tiny()).manifest
  const bad = (change: (m: Record<string, unknown>) => void, message: RegExp) => {
    const copy = structuredClone(m) as unknown as Record<string, unknown>
    change(copy)
    assert.throws(() => parseManifest(JSON.stringify(copy)), message)
  }
  bad((c) => (c.schema = 'v0'), /schema must be/)
  bad((c) => (c.arch = 'aarch64'), /arch must be x86_64/)
  bad((c) => ((c.boot as { kind: string }).kind = 'pxe'), /boot.kind/)
  bad(
    (c) => ((c.boot as { kernel: { key: string } }).kernel.key = `images/${k}.cpio.gz`),
    /boot.kernel.key must be images\/1+\.vmlinuz/,
  )
  bad((c) => ((c.boot as { initrd: { sha256: string } }).initrd.sha256 = 'xyz'), /boot.initrd.sha256/)
  bad((c) => ((c.boot as { initrd: { size: number } }).initrd.size = 0), /boot.initrd.size/)
  bad((c) => ((c.guest as { httpPort: number }).httpPort = 70000), /httpPort/)
  bad((c) => (c.packages = [{ name: 'x' }]), /packages/)
})

test('a disk image names one qcow2 file', () => {
  const built = buildManifest({
    name: 'debian',
    arch: 'x86_64',
    boot: {
      kind: 'disk',
      disk: { ...imageFile(d, 150 * 2 ** 20, 'qcow2'), format: 'qcow2' },
      firmware: 'bios',
    },
    guest: { serial: 'ttyS0', seed: 'nocloud', minMemoryMiB: 512 },
    packages: [{ name: 'cloud-init', version: '22.4.2-1+deb12u3' }],
  })
  assert.deepEqual(
    manifestFiles(built.manifest).map((f) => f.key),
    [`images/${d}.qcow2`],
  )
  assert.equal(parseManifest(built.text, built.sha256).boot.kind, 'disk')
})
