import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  cpuSharesOf,
  memoryHardLimitMiB,
  parseDacBaseLabel,
  QEMU_OVERHEAD_MIB,
} from '../../../task-driver/virt/confinement.ts'
import { renderDomainXml } from '../../../task-driver/virt/domain-xml.ts'
import { memoryCgroupOf } from '../../../task-driver/virt/process-limits.ts'

const CAPS = `<capabilities><host>
    <secmodel>
      <model>none</model>
      <doi>0</doi>
    </secmodel>
    <secmodel>
      <model>dac</model>
      <doi>0</doi>
      <baselabel type='kvm'>+65520:+65521</baselabel>
      <baselabel type='qemu'>+65520:+65521</baselabel>
    </secmodel>
  </host></capabilities>`

test("QEMU's user is read from libvirt's DAC base label", () => {
  assert.deepEqual(parseDacBaseLabel(CAPS, 'qemu'), { uid: 65520, gid: 65521 })
  assert.deepEqual(parseDacBaseLabel(CAPS, 'kvm'), { uid: 65520, gid: 65521 })
  assert.equal(parseDacBaseLabel(CAPS.replace('model>dac<', 'model>x<'), 'qemu'), undefined)
})

test('the memory hard limit: guest + TCG translation cache (TCG only) + QEMU overhead', () => {
  assert.equal(QEMU_OVERHEAD_MIB, 128)
  assert.equal(memoryHardLimitMiB(128, 'qemu'), 288)
  assert.equal(memoryHardLimitMiB(128, 'qemu', 64), 320)
  assert.equal(memoryHardLimitMiB(512, 'kvm'), 640)
})

test("CPU shares from Nomad's cpu_shares, within libvirt's range", () => {
  assert.equal(cpuSharesOf({ resources: { linux_resources: { cpu_shares: '100' } } }), 100)
  assert.equal(cpuSharesOf({ resources: { linux_resources: { cpu_shares: 0 } } }), undefined)
  assert.equal(cpuSharesOf({}), undefined)
  assert.equal(cpuSharesOf({ resources: { linux_resources: { cpu_shares: 10_000_000 } } }), 262_144)
})

test('cputune shares in the domain XML, validated', () => {
  const spec = {
    name: 'vm',
    type: 'qemu' as const,
    memoryMiB: 128,
    vcpus: 1,
    boot: { kind: 'kernel' as const, kernel: '/k', initrd: '/i', cmdline: '' },
    consoleLog: '/c',
  }
  assert.match(renderDomainXml({ ...spec, cpuShares: 100 }), /<cputune><shares>100<\/shares><\/cputune>/)
  assert.doesNotMatch(renderDomainXml(spec), /cputune/)
  assert.throws(() => renderDomainXml({ ...spec, cpuShares: 1 }), /cpuShares must be an integer 2-262144/)
})

test("a process's memory cgroup: v1's memory line, else v2's unified one", () => {
  const v1 = '9:name=systemd:/\n4:memory:/machine/qemu-1-vm.libvirt-qemu\n1:cpu,cpuacct:/machine/x\n0::/\n'
  assert.deepEqual(memoryCgroupOf(v1), { version: 1, cgroup: '/machine/qemu-1-vm.libvirt-qemu' })
  assert.deepEqual(memoryCgroupOf('0::/machine/qemu-1-vm.libvirt-qemu/emulator\n'), {
    version: 2,
    cgroup: '/machine/qemu-1-vm.libvirt-qemu/emulator',
  })
  assert.equal(memoryCgroupOf(''), undefined)
})
