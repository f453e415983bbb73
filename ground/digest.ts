// Content addressing: sha256 digests of files and bytes, the canonical JSON
// that makes a manifest's digest depend on its content only, and the S3 key
// an image file is stored under.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { Transform } from 'node:stream'

export const SHA256 = /^[0-9a-f]{64}$/

export function sha256Bytes(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), size }
}

/**
 * A pass-through stream that hashes and counts what flows through it, for a
 * download or upload checked while it is written. Past `maxBytes` it fails
 * with `tooLarge()`, the caller's own error, before writing more.
 */
export function digestingStream(maxBytes: number, tooLarge: () => Error): { stream: Transform; result(): { sha256: string; size: number } } {
  const hash = createHash('sha256')
  let size = 0
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length
      if (size > maxBytes) return done(tooLarge())
      hash.update(chunk)
      done(null, chunk)
    },
  })
  return { stream, result: () => ({ sha256: hash.digest('hex'), size }) }
}

/** File kinds an image is made of, by the extension they are stored with. */
export const IMAGE_EXTENSIONS = ['json', 'vmlinuz', 'cpio.gz', 'qcow2'] as const
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number]

/** `images/<sha256>.<ext>`: where an image file lives in the `artifacts` bucket (and in the local store). */
export function imageKey(sha256: string, ext: ImageExtension): string {
  if (!SHA256.test(sha256)) throw new Error(`not a sha256 digest (64 lowercase hex digits): '${sha256}'`)
  if (!(IMAGE_EXTENSIONS as readonly string[]).includes(ext))
    throw new Error(`unknown image file extension '${ext}'`)
  return `images/${sha256}.${ext}`
}

/** The inverse of imageKey, for keys read back from a listing or a manifest. */
export function parseImageKey(key: string): { sha256: string; ext: ImageExtension } | undefined {
  const m = /^images\/([0-9a-f]{64})\.(.+)$/.exec(key)
  if (!m || !(IMAGE_EXTENSIONS as readonly string[]).includes(m[2]!)) return undefined
  return { sha256: m[1]!, ext: m[2] as ImageExtension }
}

/**
 * JSON with object keys sorted at every level and no insignificant
 * whitespace except a final newline: equal content gives equal bytes, so
 * equal digests.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) + '\n'
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
    return Object.fromEntries(
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, sortKeys(v)]),
    )
  }
  return value
}
