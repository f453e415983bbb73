// The MBR partition table of the Debian image's disk: one bootable Linux
// partition. Written by hand because loop partition devices do not appear on
// these machines, so the disk is assembled from a file, not partitioned live.

export const SECTOR = 512

export interface Partition {
  /** First sector (LBA); 2048 = 1 MiB, the usual alignment. */
  readonly start: number
  readonly sectors: number
  /** Partition type: 0x83 = Linux. */
  readonly type: number
  readonly bootable: boolean
}

/**
 * Bytes 446-511 of the first sector: four 16-byte partition entries and the
 * 0x55AA signature. The boot code (bytes 0-439, syslinux's mbr.bin) is separate.
 */
export function partitionTable(partitions: readonly Partition[]): Buffer {
  if (partitions.length > 4) throw new Error('an MBR holds at most four primary partitions')
  const table = Buffer.alloc(66)
  partitions.forEach((p, i) => {
    if (
      !Number.isSafeInteger(p.start) ||
      p.start < 1 ||
      !Number.isSafeInteger(p.sectors) ||
      p.sectors < 1 ||
      p.start + p.sectors > 2 ** 32
    ) {
      throw new Error(`partition ${i + 1} does not fit an MBR (start ${p.start}, ${p.sectors} sectors)`)
    }
    const e = i * 16
    table[e] = p.bootable ? 0x80 : 0x00
    // CHS fields say "use LBA" (the largest CHS address); every loader since the 90s reads the LBA fields.
    table.set([0xfe, 0xff, 0xff], e + 1)
    table[e + 4] = p.type
    table.set([0xfe, 0xff, 0xff], e + 5)
    table.writeUInt32LE(p.start, e + 8)
    table.writeUInt32LE(p.sectors, e + 12)
  })
  table[64] = 0x55
  table[65] = 0xaa
  return table
}

/** A version-4-shaped UUID made from a hex digest, so a rebuild from equal inputs gives the same filesystem UUID. */
export function uuidFromDigest(hex: string): string {
  if (!/^[0-9a-f]{32,}$/.test(hex)) throw new Error('need at least 32 hex digits')
  const h = hex.slice(0, 32).split('')
  h[12] = '4'
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)
  const s = h.join('')
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`
}
