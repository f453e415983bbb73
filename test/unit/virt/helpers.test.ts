import assert from 'node:assert/strict'
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import {
  LAUNCHER,
  libvirtdSpawnSpec,
  libvirtPaths,
  libvirtUri,
  QEMU_CONF,
  withQemuUsers,
} from '../../../infra/cloud/agents/libvirt.ts'
import { probeAccelerator } from '../../../task-driver/virt/accelerator.ts'
import { splitLines, waitForConsoleLine } from '../../../task-driver/virt/console.ts'
import { isDomainCmdline } from '../../../task-driver/virt/domain.ts'
import { VirtError } from '../../../task-driver/virt/errors.ts'
import { overlayArgs } from '../../../task-driver/virt/overlay.ts'

test('overlay arguments: qcow2 backed by the image, size optional', () => {
  assert.deepEqual(overlayArgs({ backing: '/s/d.qcow2', overlay: '/w/o.qcow2', size: '10G' }), [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    '/s/d.qcow2',
    '-F',
    'qcow2',
    '/w/o.qcow2',
    '10G',
  ])
  assert.equal(overlayArgs({ backing: '/s/d.qcow2', overlay: '/w/o.qcow2' }).at(-1), '/w/o.qcow2')
  assert.throws(() => overlayArgs({ backing: 'd.qcow2', overlay: '/w/o.qcow2' }), VirtError)
  assert.throws(
    () => overlayArgs({ backing: '/d.qcow2', overlay: '/w/o.qcow2', size: '10 G; rm' }),
    VirtError,
  )
})

test('console lines are split across reads, CRs dropped', () => {
  let s = splitLines('', 'boot\r\nREA')
  assert.deepEqual(s, { lines: ['boot'], carry: 'REA' })
  s = splitLines(s.carry, 'DY\r\nmore')
  assert.deepEqual(s, { lines: ['READY'], carry: 'more' })
})

test('waitForConsoleLine sees a line written after it started, and times out naming the file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'virt-console-'))
  try {
    const file = path.join(dir, 'console.log')
    await writeFile(file, 'SeaBIOS\nREADY-ish\n')
    const waiting = waitForConsoleLine(file, 'READY', { timeoutMs: 5000, intervalMs: 10 })
    setTimeout(() => void appendFile(file, 'Linux\r\n  READY  \r\n'), 50)
    assert.ok((await waiting) >= 0)
    await assert.rejects(
      waitForConsoleLine(path.join(dir, 'missing.log'), 'READY', { timeoutMs: 50, intervalMs: 10 }),
      (e: unknown) =>
        e instanceof VirtError && e.code === 'LEAN_ERR_VIRT_BOOT' && /missing\.log/.test(e.message),
    )
    await assert.rejects(
      waitForConsoleLine(file, 'NEVER', {
        timeoutMs: 5000,
        intervalMs: 1,
        abort: async () => 'the domain stopped',
      }),
      /the domain stopped/,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test("a QEMU command line is the domain's by its -name guest=", () => {
  const cmd = ['/usr/bin/qemu-system-x86_64', '-name', 'guest=web-1,debug-threads=on', '-m', '128'].join('\0')
  assert.ok(isDomainCmdline(cmd, 'web-1'))
  assert.ok(!isDomainCmdline(cmd, 'web'))
  assert.ok(!isDomainCmdline(['/usr/bin/qemu-system-x86_64', '-m', '1'].join('\0'), 'web-1'))
})

test('the accelerator probe picks TCG at once when there is no KVM device', async () => {
  const r = await probeAccelerator({
    uri: 'qemu:///never-used',
    kernel: '/k',
    initrd: '/i',
    cmdline: '',
    readyLine: 'READY',
    memoryMiB: 128,
    workDir: os.tmpdir(),
    kvmDevice: '/nonexistent/kvm',
  })
  assert.equal(r.type, 'qemu')
  assert.match(r.reason, /no \/nonexistent\/kvm/)
})

test('the private libvirtd: paths under the data dir, socket URI, namespace launcher', () => {
  const p = libvirtPaths('/data')
  assert.equal(p.socket, '/data/libvirt/run/libvirt-sock')
  assert.equal(libvirtUri('/data'), 'qemu:///system?socket=/data/libvirt/run/libvirt-sock')
  const spec = libvirtdSpawnSpec('/data')
  assert.deepEqual(
    [spec.command, ...spec.args],
    ['unshare', '--mount', '--propagation', 'private', 'sh', '/data/libvirt/launch.sh', '/data/libvirt'],
  )
  for (const dir of [
    '/etc/libvirt',
    '/var/lib/libvirt',
    '/run/libvirt',
    '/var/log/libvirt',
    '/var/cache/libvirt',
  ])
    assert.ok(LAUNCHER.includes(` ${dir}\n`), dir)
  assert.match(
    LAUNCHER,
    /exec libvirtd --config \/etc\/libvirt\/libvirtd\.conf --pid-file \/run\/libvirt\/libvirtd\.pid/,
    'the pid file inside the private run dir: two clouds never share one',
  )
  assert.match(QEMU_CONF, /^user = "lean-qemu"$/m)
  assert.match(QEMU_CONF, /^group = "lean-qemu"$/m)
  assert.doesNotMatch(QEMU_CONF, /"root"/)
  assert.match(QEMU_CONF, /^dynamic_ownership = 0$/m, 'the driver, not libvirt, gives QEMU its files')
  assert.match(QEMU_CONF, /^cgroup_controllers = \[ "cpu", "cpuacct", "memory" \]$/m)
  assert.match(QEMU_CONF, /stdio_handler = "file"/)
  assert.match(LAUNCHER, /mknod -m 0660 "\$dir\/dev\/kvm" c/, 'a private /dev/kvm, group kvm')
  assert.match(LAUNCHER, /mount --bind "\$dir\/dev\/kvm" \/dev\/kvm/)
})

test("the namespace's passwd/group: libvirt's placeholder, and lean-qemu on a free id, in kvm", () => {
  const r = withQemuUsers('root:x:0:0::/root:/bin/sh', 'root:x:0:\nkvm:x:993:\n')
  assert.match(r.passwd, /^root:x:0:0::\/root:\/bin\/sh\nlibvirt-qemu:x:64055:64055:/)
  assert.match(r.passwd, /\nlean-qemu:x:65520:65520:[^\n]*:\/nonexistent:\/usr\/sbin\/nologin\n$/)
  assert.equal(r.group, 'root:x:0:\nkvm:x:993:lean-qemu\nlibvirt-qemu:x:64055:\nlean-qemu:x:65520:\n')
  assert.deepEqual([r.uid, r.gid], [65520, 65520])
  const again = withQemuUsers(r.passwd, r.group)
  assert.deepEqual(again, r, 'idempotent')

  // An id the host uses (as a uid or a gid) is skipped; a host without kvm gets one; members are kept.
  const busy = withQemuUsers(
    'root:x:0:0::/root:/bin/sh\nsvc:x:65520:100::/:/bin/false\n',
    'root:x:0:\nother:x:65521:\n',
  )
  assert.deepEqual([busy.uid, busy.gid], [65522, 65522])
  assert.match(busy.group, /\nkvm:x:65523:lean-qemu\n$/)
  const members = withQemuUsers('root:x:0:0::/root:/bin/sh\n', 'kvm:x:993:alice,bob\n')
  assert.match(members.group, /^kvm:x:993:alice,bob,lean-qemu$/m)
})
