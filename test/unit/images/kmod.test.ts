import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  loadOrder,
  modinfoSection,
  moduleDepends,
  moduleName,
  parseModinfo,
} from '../../../infra/images/kmod.ts'

const modinfo = Buffer.from(
  'license=GPL\0alias=virtio:d00000001v*\0depends=virtio_ring,virtio,net_failover\0retpoline=Y\0name=virtio_net\0vermagic=6.1.0 SMP\0',
)

test('.modinfo strings and the depends list', () => {
  assert.deepEqual(parseModinfo(modinfo).slice(0, 2), [
    ['license', 'GPL'],
    ['alias', 'virtio:d00000001v*'],
  ])
  assert.deepEqual(moduleDepends(modinfo), ['virtio_ring', 'virtio', 'net_failover'])
  assert.deepEqual(moduleDepends(Buffer.from('depends=\0name=virtio_ring\0')), [])
  assert.deepEqual(moduleDepends(Buffer.from('name=x\0')), [])
})

test('module names: dashes are underscores, extensions go', () => {
  assert.equal(moduleName('virtio-rng.ko'), 'virtio_rng')
  assert.equal(moduleName('crc32c-intel.ko.xz'), 'crc32c_intel')
  assert.equal(moduleName('isofs'), 'isofs')
})

/** A minimal ELF64 LE file with a null section, .modinfo and .shstrtab. */
function elf(section: Buffer): Buffer {
  const names = Buffer.from('\0.modinfo\0.shstrtab\0')
  const dataAt = 64
  const namesAt = dataAt + section.length
  const shoff = namesAt + names.length
  const out = Buffer.alloc(shoff + 3 * 64)
  out.writeUInt32BE(0x7f454c46, 0)
  out[4] = 2
  out[5] = 1
  out.writeBigUInt64LE(BigInt(shoff), 0x28)
  out.writeUInt16LE(64, 0x3a)
  out.writeUInt16LE(3, 0x3c)
  out.writeUInt16LE(2, 0x3e)
  section.copy(out, dataAt)
  names.copy(out, namesAt)
  const sh = (i: number, name: number, offset: number, size: number) => {
    out.writeUInt32LE(name, shoff + i * 64)
    out.writeBigUInt64LE(BigInt(offset), shoff + i * 64 + 0x18)
    out.writeBigUInt64LE(BigInt(size), shoff + i * 64 + 0x20)
  }
  sh(1, 1, dataAt, section.length)
  sh(2, 10, namesAt, names.length)
  return out
}

test('the .modinfo section is found through the ELF section headers', () => {
  assert.deepEqual(modinfoSection(elf(modinfo)), modinfo)
  assert.throws(() => modinfoSection(Buffer.from('#!/bin/sh\n'.padEnd(80))), /not a 64-bit little-endian ELF/)
})

const deps: Record<string, string[]> = {
  virtio_net: ['virtio_ring', 'virtio', 'net_failover'],
  net_failover: ['failover'],
  failover: [],
  virtio: [],
  virtio_ring: [],
  virtio_pci: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'],
  virtio_pci_modern_dev: [],
  virtio_pci_legacy_dev: [],
  isofs: ['cdrom'],
  cdrom: [],
  sr_mod: ['scsi_mod', 'cdrom', 'scsi_common'],
  scsi_mod: ['scsi_common'],
  scsi_common: [],
}

test('each module loads after its dependencies (virtio_ring before virtio, cdrom before isofs)', () => {
  const order = loadOrder(['virtio_pci', 'virtio_net', 'sr_mod', 'isofs'], (n) => deps[n])
  assert.deepEqual(order, [
    'virtio_ring',
    'virtio_pci_modern_dev',
    'virtio_pci_legacy_dev',
    'virtio',
    'virtio_pci',
    'failover',
    'net_failover',
    'virtio_net',
    'scsi_common',
    'scsi_mod',
    'cdrom',
    'sr_mod',
    'isofs',
  ])
  for (const [m, ds] of Object.entries(deps)) {
    if (!order.includes(m)) continue
    for (const d of ds) assert.ok(order.indexOf(d) < order.indexOf(m), `${d} before ${m}`)
  }
})

test('a missing module or a cycle is named', () => {
  assert.throws(() => loadOrder(['ahci'], (n) => deps[n]), /kernel module ahci is not in the kernel package/)
  assert.throws(
    () => loadOrder(['isofs'], (n) => (n === 'isofs' ? ['cdrom'] : n === 'cdrom' ? ['libx'] : undefined)),
    /libx is not in the kernel package \(needed by cdrom\)/,
  )
  assert.throws(() => loadOrder(['a'], (n) => ({ a: ['b'], b: ['a'] })[n]), /cycle: a -> b -> a/)
})
