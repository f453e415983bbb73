// Image manifests for tests that need a valid image (it passes buildManifest's
// checks) but not a bootable one: its files are whatever bytes the test made,
// named by their digests, for a serial ttyS0 NoCloud guest of 64 MiB and no
// packages unless the test says otherwise.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { sha256Bytes } from '../../ground/digest.ts'
import {
  buildManifest,
  imageFile,
  type BuiltManifest,
  type GuestFacts,
  type PackagePin,
} from '../../ground/image-manifest.ts'

export interface ImageOverrides {
  /** Merged over `{ serial: 'ttyS0', seed: 'nocloud', minMemoryMiB: 64 }`. */
  readonly guest?: Partial<GuestFacts>
  readonly packages?: readonly PackagePin[]
}

const GUEST: GuestFacts = { serial: 'ttyS0', seed: 'nocloud', minMemoryMiB: 64 }

/** A kernel-boot image of these kernel and initrd bytes (cmdline `console=ttyS0` unless given). */
export function kernelImage(
  name: string,
  kernel: Uint8Array,
  initrd: Uint8Array,
  overrides: ImageOverrides & { readonly cmdline?: string } = {},
): BuiltManifest {
  return buildManifest({
    name,
    arch: 'x86_64',
    boot: {
      kind: 'kernel',
      kernel: imageFile(sha256Bytes(kernel), kernel.length, 'vmlinuz'),
      initrd: imageFile(sha256Bytes(initrd), initrd.length, 'cpio.gz'),
      cmdline: overrides.cmdline ?? 'console=ttyS0',
    },
    guest: { ...GUEST, ...overrides.guest },
    packages: overrides.packages ?? [],
  })
}

/** A disk-boot image (qcow2, BIOS) of these disk bytes. */
export function diskImage(name: string, disk: Uint8Array, overrides: ImageOverrides = {}): BuiltManifest {
  return buildManifest({
    name,
    arch: 'x86_64',
    boot: {
      kind: 'disk',
      disk: { ...imageFile(sha256Bytes(disk), disk.length, 'qcow2'), format: 'qcow2' },
      firmware: 'bios',
    },
    guest: { ...GUEST, ...overrides.guest },
    packages: overrides.packages ?? [],
  })
}

/** The bytes of a qcow2 made by the real qemu-img in `dir`, with `qemu-img create` options (e.g. a backing file). */
export async function qcow2(dir: string, name: string, size: string, ...options: string[]): Promise<Buffer> {
  const file = path.join(dir, name)
  await promisify(execFile)('qemu-img', ['create', '-f', 'qcow2', ...options, file, size])
  return readFile(file)
}

/** `qcow2` options that name a host file as the backing file: what an attacker uploads. */
export const HOST_FILE_BACKING = ['-u', '-b', '/etc/shadow', '-F', 'raw'] as const
