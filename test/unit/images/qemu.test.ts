import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildManifest, imageFile } from '../../../ground/image-manifest.ts'
import { metaData } from '../../../infra/images/seed.ts'
import { qemuArgs } from '../../../infra/images/verify.ts'

const tiny = buildManifest({
  name: 'tiny',
  arch: 'x86_64',
  boot: {
    kind: 'kernel',
    kernel: imageFile('1'.repeat(64), 10, 'vmlinuz'),
    initrd: imageFile('2'.repeat(64), 10, 'cpio.gz'),
    cmdline: 'console=ttyS0 quiet',
  },
  guest: { serial: 'ttyS0', readyLine: 'READY', httpPort: 8080, seed: 'nocloud', minMemoryMiB: 128 },
  packages: [],
}).manifest

const opts = {
  files: { kernel: '/s/k.vmlinuz', initrd: '/s/i.cpio.gz' },
  seedIso: '/w/seed.iso',
  hostPort: 24001,
  guestPort: 8080,
  monitor: '/w/mon.sock',
}

test('the tiny image boots its kernel directly under TCG with a small translation cache', () => {
  const args = qemuArgs(tiny, opts)
  const after = (flag: string) => args[args.indexOf(flag) + 1]
  assert.equal(after('-accel'), 'tcg,tb-size=32')
  assert.equal(after('-m'), '128')
  assert.equal(after('-kernel'), '/s/k.vmlinuz')
  assert.equal(after('-initrd'), '/s/i.cpio.gz')
  assert.equal(after('-append'), 'console=ttyS0 quiet')
  assert.equal(after('-netdev'), 'user,id=net0,hostfwd=tcp:127.0.0.1:24001-:8080')
  assert.equal(after('-serial'), 'stdio')
  assert.ok(args.includes('file=/w/seed.iso,media=cdrom,if=ide,readonly=on'))
  assert.throws(() => qemuArgs(tiny, { ...opts, files: {} }), /needs its kernel and initrd/)
})

test('a disk image boots from its overlay on virtio', () => {
  const debian = buildManifest({
    name: 'debian',
    arch: 'x86_64',
    boot: {
      kind: 'disk',
      disk: { ...imageFile('3'.repeat(64), 10, 'qcow2'), format: 'qcow2' },
      firmware: 'bios',
    },
    guest: { serial: 'ttyS0', seed: 'nocloud', minMemoryMiB: 512 },
    packages: [],
  }).manifest
  const args = qemuArgs(debian, { ...opts, files: { disk: '/w/overlay.qcow2' }, guestPort: 22, accel: 'kvm' })
  assert.ok(args.includes('file=/w/overlay.qcow2,if=virtio,format=qcow2'))
  assert.equal(args[args.indexOf('-m') + 1], '512')
  assert.equal(args[args.indexOf('-accel') + 1], 'kvm')
  assert.ok(!args.includes('-kernel'))
})

test('the seed meta-data names the instance and the hostname, and refuses YAML injection', () => {
  assert.equal(
    metaData({ instanceId: 'i-1', hostname: 'web-1' }),
    'instance-id: i-1\nlocal-hostname: web-1\n',
  )
  assert.throws(() => metaData({ instanceId: 'i-1', hostname: 'web\nevil: 1' }), /hostname/)
})
