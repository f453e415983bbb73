import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  forwardsFromXml,
  hostfwd,
  renderDomainXml,
  userNetArgs,
  xmlEscape,
  type DomainSpec,
} from '../../../task-driver/virt/domain-xml.ts'
import { VirtError } from '../../../task-driver/virt/errors.ts'

const kernelSpec: DomainSpec = {
  name: 'web-1',
  type: 'qemu',
  memoryMiB: 128,
  vcpus: 1,
  boot: {
    kind: 'kernel',
    kernel: '/s/k.vmlinuz',
    initrd: '/s/i.cpio.gz',
    cmdline: 'console=ttyS0 quiet panic=-1',
  },
  seedIso: '/w/seed.iso',
  consoleLog: '/w/console.log',
  ports: [{ hostPort: 24001, guestPort: 8080 }],
}

const diskSpec: DomainSpec = {
  name: 'deb-1',
  type: 'kvm',
  memoryMiB: 512,
  vcpus: 2,
  boot: { kind: 'disk', overlay: '/w/overlay.qcow2' },
  seedIso: '/w/seed.iso',
  cdromBus: 'scsi',
  consoleLog: '/w/console.log',
  ports: [
    { hostPort: 24002, guestPort: 22 },
    { hostPort: 24003, guestPort: 53, protocol: 'udp', hostAddress: '10.0.0.5' },
  ],
}

function specError(fn: () => unknown, field: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) =>
      err instanceof VirtError && err.code === 'LEAN_ERR_VIRT_SPEC' && field.test(err.message),
  )
}

test('xmlEscape escapes the five XML specials and refuses control characters', () => {
  assert.equal(xmlEscape(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&apos;f')
  assert.equal(xmlEscape('tab\tand\nnewline'), 'tab\tand\nnewline')
  specError(() => xmlEscape('bell\u0007'), /control character/)
})

test('a kernel image boots its kernel and initrd directly, with the command line escaped', () => {
  const xml = renderDomainXml({
    ...kernelSpec,
    boot: { ...kernelSpec.boot, cmdline: `console=ttyS0 x="<a&b>" y='1'` } as DomainSpec['boot'],
  })
  assert.match(xml, /<kernel>\/s\/k\.vmlinuz<\/kernel>/)
  assert.match(xml, /<initrd>\/s\/i\.cpio\.gz<\/initrd>/)
  assert.match(xml, /<cmdline>console=ttyS0 x=&quot;&lt;a&amp;b&gt;&quot; y=&apos;1&apos;<\/cmdline>/)
  assert.doesNotMatch(xml, /<boot dev=/)
  assert.doesNotMatch(xml, /device='disk'/)
})

test('name, memory and vcpus are rendered; the machine is pc with ACPI', () => {
  const xml = renderDomainXml(kernelSpec)
  assert.match(xml, /^<domain type='qemu' xmlns:qemu='http:\/\/libvirt\.org\/schemas\/domain\/qemu\/1\.0'>/)
  assert.match(xml, /<name>web-1<\/name>/)
  assert.match(xml, /<memory unit='MiB'>128<\/memory>/)
  assert.match(xml, /<vcpu>1<\/vcpu>/)
  assert.match(xml, /machine='pc'>hvm<\/type>/)
  assert.match(xml, /<acpi\/>/)
  assert.match(xml, /<on_poweroff>destroy<\/on_poweroff>/)
})

test('TCG gets a 32 MiB translation cache by default, or the one asked for; KVM none', () => {
  assert.match(renderDomainXml(kernelSpec), /<tcg>\s*<tb-cache unit='MiB'>32<\/tb-cache>\s*<\/tcg>/)
  assert.match(renderDomainXml({ ...kernelSpec, tbCacheMiB: 64 }), /<tb-cache unit='MiB'>64<\/tb-cache>/)
  const kvm = renderDomainXml({ ...kernelSpec, type: 'kvm' })
  assert.match(kvm, /^<domain type='kvm'/)
  assert.doesNotMatch(kvm, /tcg|tb-cache/)
  assert.match(kvm, /<cpu mode='host-passthrough'\/>/)
})

test('a disk image boots from its copy-on-write overlay on virtio', () => {
  const xml = renderDomainXml(diskSpec)
  assert.match(xml, /<boot dev='hd'\/>/)
  assert.match(
    xml,
    /<disk type='file' device='disk'>\s*<driver name='qemu' type='qcow2' discard='unmap'\/>\s*<source file='\/w\/overlay\.qcow2'\/>\s*<target dev='vda' bus='virtio'\/>/,
  )
  assert.doesNotMatch(xml, /<kernel>/)
  assert.match(xml, /<vcpu>2<\/vcpu>/)
})

test('the seed is a read-only cdrom on IDE by default, on virtio-scsi when asked, never SATA', () => {
  const ide = renderDomainXml(kernelSpec)
  assert.match(
    ide,
    /device='cdrom'>\s*<driver name='qemu' type='raw'\/>\s*<source file='\/w\/seed\.iso'\/>\s*<target dev='hdc' bus='ide'\/>\s*<readonly\/>/,
  )
  assert.doesNotMatch(ide, /virtio-scsi/)
  const scsi = renderDomainXml(diskSpec)
  assert.match(scsi, /<controller type='scsi' index='0' model='virtio-scsi'\/>/)
  assert.match(scsi, /<target dev='sda' bus='scsi'\/>/)
  assert.doesNotMatch(
    renderDomainXml({ ...kernelSpec, seedIso: undefined } as unknown as DomainSpec),
    /cdrom/,
  )
  specError(() => renderDomainXml({ ...kernelSpec, cdromBus: 'sata' as 'ide' }), /cdromBus/)
})

test('the serial console and the console go to the log file', () => {
  const xml = renderDomainXml({ ...kernelSpec, consoleLog: "/w/it's & log" })
  assert.match(
    xml,
    /<serial type='file'>\s*<source path='\/w\/it&apos;s &amp; log' append='on'\/>\s*<target port='0'\/>/,
  )
  assert.match(
    xml,
    /<console type='file'>\s*<source path='\/w\/it&apos;s &amp; log' append='on'\/>\s*<target type='serial' port='0'\/>/,
  )
})

test("port forwards go on the user-mode netdev on QEMU's command line, with a fixed NIC slot", () => {
  assert.equal(hostfwd({ hostPort: 1, guestPort: 2 }), 'tcp:127.0.0.1:1-:2')
  assert.deepEqual(userNetArgs(diskSpec.ports!), [
    '-netdev',
    'user,id=leannet0,restrict=on,hostfwd=tcp:127.0.0.1:24002-:22,hostfwd=udp:10.0.0.5:24003-:53',
    '-device',
    'virtio-net-pci,netdev=leannet0,bus=pci.0,addr=0x1f',
  ])
  const xml = renderDomainXml(kernelSpec)
  assert.match(
    xml,
    /<qemu:commandline>\s*<qemu:arg value='-netdev'\/>\s*<qemu:arg value='user,id=leannet0,restrict=on,hostfwd=tcp:127\.0\.0\.1:24001-:8080'\/>/,
  )
  assert.doesNotMatch(xml, /<interface /)
  // No ports: still a NIC (DHCP; restricted, so no traffic out), no forwards.
  assert.match(renderDomainXml({ ...kernelSpec, ports: [] }), /value='user,id=leannet0,restrict=on'/)
})

test("granted services are the netdev's only guest-initiated forwards: guestfwd to a loopback proxy that QEMU redials", () => {
  const egress = [
    { guestAddress: '10.0.2.100', guestPort: 80, proxyPort: 41001 },
    { guestAddress: '10.0.2.101', guestPort: 80, proxyPort: 41002 },
  ]
  assert.deepEqual(userNetArgs(kernelSpec.ports!, egress).slice(0, 2), [
    '-netdev',
    'user,id=leannet0,restrict=on,hostfwd=tcp:127.0.0.1:24001-:8080,' +
      'guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:41001,,reconnect=1,' +
      'guestfwd=tcp:10.0.2.101:80-tcp:127.0.0.1:41002,,reconnect=1',
  ])
  const xml = renderDomainXml({ ...kernelSpec, guestForwards: egress })
  assert.match(
    xml,
    /<qemu:arg value='user,id=leannet0,restrict=on,hostfwd=[^']*,guestfwd=tcp:10\.0\.2\.100:80-tcp:127\.0\.0\.1:41001,,reconnect=1,guestfwd=[^']*'\/>/,
  )
  // Still restricted: nothing but the grants is reachable; the forwards read back are the host's only.
  assert.deepEqual(forwardsFromXml(xml), [
    { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 24001, guestPort: 8080 },
  ])
  assert.doesNotMatch(renderDomainXml(kernelSpec), /guestfwd/)
  // The host (.2), its DNS (.3), DHCP addresses and other networks are no grant addresses.
  for (const guestAddress of ['10.0.2.2', '10.0.2.3', '10.0.2.15', '10.0.3.100', '10.0.2.255', '10.0.2.1000'])
    specError(
      () => renderDomainXml({ ...kernelSpec, guestForwards: [{ ...egress[0]!, guestAddress }] }),
      /guestForwards\[0\]\.guestAddress/,
    )
  specError(
    () => renderDomainXml({ ...kernelSpec, guestForwards: [{ ...egress[0]!, proxyPort: 0 }] }),
    /guestForwards\[0\]\.proxyPort/,
  )
  specError(() => renderDomainXml({ ...kernelSpec, guestForwards: [egress[0]!, egress[0]!] }), /twice/)
})

test('forwards are read back from the domain XML', () => {
  assert.deepEqual(forwardsFromXml(renderDomainXml(diskSpec)), [
    { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 24002, guestPort: 22 },
    { protocol: 'udp', hostAddress: '10.0.0.5', hostPort: 24003, guestPort: 53 },
  ])
  // As libvirt writes it back (double quotes).
  assert.deepEqual(forwardsFromXml('<qemu:arg value="user,id=x,hostfwd=tcp::80-:8080"/>'), [
    { protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 80, guestPort: 8080 },
  ])
})

test('the description is escaped', () => {
  assert.match(
    renderDomainXml({ ...kernelSpec, description: 'task <a> & b' }),
    /<description>task &lt;a&gt; &amp; b<\/description>/,
  )
})

test('bad specs are refused with the field named', () => {
  specError(() => renderDomainXml({ ...kernelSpec, name: 'a b' }), /name/)
  specError(() => renderDomainXml({ ...kernelSpec, name: "x'><evil/>" }), /name/)
  specError(() => renderDomainXml({ ...kernelSpec, type: 'xen' as 'kvm' }), /type/)
  specError(() => renderDomainXml({ ...kernelSpec, memoryMiB: 8 }), /memoryMiB/)
  specError(() => renderDomainXml({ ...kernelSpec, vcpus: 0 }), /vcpus/)
  specError(() => renderDomainXml({ ...kernelSpec, consoleLog: 'rel/console.log' }), /consoleLog/)
  specError(() => renderDomainXml({ ...kernelSpec, seedIso: '/w/a,b.iso' }), /seedIso.*comma/)
  specError(
    () => renderDomainXml({ ...diskSpec, boot: { kind: 'disk', overlay: 'o.qcow2' } }),
    /boot\.overlay/,
  )
  specError(() => renderDomainXml({ ...kernelSpec, tbCacheMiB: 0 }), /tbCacheMiB/)
  specError(
    () => renderDomainXml({ ...kernelSpec, ports: [{ hostPort: 70000, guestPort: 80 }] }),
    /ports\[0\]\.hostPort/,
  )
  specError(
    () => renderDomainXml({ ...kernelSpec, ports: [{ hostPort: 1, guestPort: 0 }] }),
    /ports\[0\]\.guestPort/,
  )
  specError(
    () =>
      renderDomainXml({ ...kernelSpec, ports: [{ hostPort: 1, guestPort: 2, hostAddress: 'x,hostfwd=' }] }),
    /hostAddress/,
  )
  specError(
    () =>
      renderDomainXml({
        ...kernelSpec,
        ports: [
          { hostPort: 1, guestPort: 2 },
          { hostPort: 1, guestPort: 3 },
        ],
      }),
    /twice/,
  )
})

test('rendering is deterministic', () => {
  assert.equal(renderDomainXml(diskSpec), renderDomainXml({ ...diskSpec }))
})
