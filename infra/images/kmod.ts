// Which kernel modules the tiny initramfs carries, and the order its /init
// loads them in. busybox's insmod loads one file and resolves nothing, so a
// module's dependencies must be loaded before it (virtio_ring before virtio,
// cdrom before isofs). The dependencies are read from each module's own
// `.modinfo` section (`depends=a,b`), not from modules.dep, which Debian's
// kernel package does not ship (depmod makes it at install time).

/** The `key=value` strings of a module's .modinfo section, in order. */
export function parseModinfo(section: Uint8Array): Array<[string, string]> {
  return Buffer.from(section)
    .toString('latin1')
    .split('\0')
    .filter((s) => s.includes('='))
    .map((s): [string, string] => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)])
}

/** The modules a module depends on, from its .modinfo. */
export function moduleDepends(section: Uint8Array): string[] {
  const value = parseModinfo(section).find(([k]) => k === 'depends')?.[1] ?? ''
  return value.split(',').filter(Boolean).map(moduleName)
}

/** Module names use `_` and `-` interchangeably (virtio-rng.ko is module virtio_rng). */
export function moduleName(name: string): string {
  return name.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replaceAll('-', '_')
}

/** The contents of the `.modinfo` section of a 64-bit little-endian ELF file (a .ko). */
export function modinfoSection(elf: Uint8Array): Uint8Array {
  const b = Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength)
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1)
    throw new Error('not a 64-bit little-endian ELF file')
  const shoff = Number(b.readBigUInt64LE(0x28))
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const shstrndx = b.readUInt16LE(0x3e)
  const section = (i: number) => {
    const at = shoff + i * shentsize
    return {
      name: b.readUInt32LE(at),
      offset: Number(b.readBigUInt64LE(at + 0x18)),
      size: Number(b.readBigUInt64LE(at + 0x20)),
    }
  }
  const names = section(shstrndx)
  for (let i = 0; i < shnum; i++) {
    const s = section(i)
    const start = names.offset + s.name
    const name = b.toString('latin1', start, b.indexOf(0, start))
    if (name === '.modinfo') return b.subarray(s.offset, s.offset + s.size)
  }
  throw new Error('the ELF file has no .modinfo section (not a kernel module?)')
}

/**
 * The wanted modules and everything they depend on, each after its
 * dependencies; ties keep the order of `wanted`, so the order is stable.
 * `dependsOf` returns undefined for a module the kernel package does not have.
 */
export function loadOrder(
  wanted: readonly string[],
  dependsOf: (name: string) => readonly string[] | undefined,
): string[] {
  const order: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (name: string, path: readonly string[]) => {
    if (state.get(name) === 'done') return
    if (state.get(name) === 'visiting')
      throw new Error(`kernel modules depend on each other in a cycle: ${[...path, name].join(' -> ')}`)
    const deps = dependsOf(name)
    if (deps === undefined)
      throw new Error(
        `kernel module ${name} is not in the kernel package${path.length ? ` (needed by ${path.at(-1)})` : ''}`,
      )
    state.set(name, 'visiting')
    for (const d of deps) visit(d, [...path, name])
    state.set(name, 'done')
    order.push(name)
  }
  for (const name of wanted) visit(moduleName(name), [])
  return order
}
