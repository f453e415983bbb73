// Writes a cpio archive in the "newc" format the kernel unpacks an initramfs
// from. Written here rather than with cpio(1) so the archive is reproducible:
// entries sorted by path, owner root, every mtime 0, inode numbers in order.
// Equal inputs give equal bytes, so the initramfs's digest is stable.

export type CpioEntry =
  | { readonly path: string; readonly type: 'dir'; readonly mode?: number }
  | { readonly path: string; readonly type: 'file'; readonly data: Uint8Array; readonly mode?: number }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string }
  | {
      readonly path: string
      readonly type: 'char'
      readonly major: number
      readonly minor: number
      readonly mode?: number
    }

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

/** The archive's bytes; entries are sorted by path and every parent directory must be listed. */
export function buildCpio(entries: readonly CpioEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const dirs = new Set<string>()
  const parts: Buffer[] = []
  let ino = 0
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!
    checkPath(e.path)
    if (i > 0 && sorted[i - 1]!.path === e.path) throw new Error(`cpio: ${e.path} is listed twice`)
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : ''
    if (parent && !dirs.has(parent)) throw new Error(`cpio: ${e.path} comes without its directory ${parent}`)
    if (e.type === 'dir') dirs.add(e.path)
    const [mode, data, rdev] = describe(e)
    parts.push(
      header({
        ino: ++ino,
        mode,
        nlink: e.type === 'dir' ? 2 : 1,
        size: data.length,
        rdevmajor: rdev[0],
        rdevminor: rdev[1],
        name: e.path,
      }),
      data,
      pad(data.length),
    )
  }
  parts.push(header({ ino: 0, mode: 0, nlink: 1, size: 0, rdevmajor: 0, rdevminor: 0, name: 'TRAILER!!!' }))
  return Buffer.concat(parts)
}

function checkPath(p: string): void {
  if (
    p === '' ||
    p.startsWith('/') ||
    p.endsWith('/') ||
    p.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new Error(`cpio: '${p}' must be a relative path without empty, . or .. segments`)
  }
}

function describe(e: CpioEntry): [mode: number, data: Buffer, rdev: [number, number]] {
  switch (e.type) {
    case 'dir':
      return [S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), [0, 0]]
    case 'file':
      return [S_IFREG | (e.mode ?? 0o644), Buffer.from(e.data), [0, 0]]
    case 'symlink':
      return [S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'), [0, 0]]
    case 'char':
      return [S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), [e.major, e.minor]]
  }
}

interface Header {
  readonly ino: number
  readonly mode: number
  readonly nlink: number
  readonly size: number
  readonly rdevmajor: number
  readonly rdevminor: number
  readonly name: string
}

function header(h: Header): Buffer {
  const name = Buffer.from(h.name + '\0', 'utf8')
  const hex = (n: number) => n.toString(16).padStart(8, '0')
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const fields = [h.ino, h.mode, 0, 0, h.nlink, 0, h.size, 0, 0, h.rdevmajor, h.rdevminor, name.length, 0]
  const head = Buffer.from('070701' + fields.map(hex).join(''), 'ascii')
  // The name is padded so that the data starts on a 4-byte boundary.
  return Buffer.concat([head, name, pad(head.length + name.length)])
}

function pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4)
}
