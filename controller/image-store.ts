// VM images in S3, for the VM API: list the manifests, and take uploads by
// digest. An image is a manifest (images/<sha256>.json) naming its files
// (images/<sha256>.<ext>), as `npm run build:images` publishes them (see
// infra/images/README.md). Nothing unverified is ever stored: a file is
// hashed into a temporary file first and put only when its digest is the one
// it is named by, it is no larger than the limit and, for a disk, qemu-img
// finds a qcow2 standing alone (no backing or data file) within the virtual
// size limit; a manifest only when its digest matches, its schema holds and
// every file it names is already there.
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { digestingStream, imageKey, parseImageKey, sha256Bytes, SHA256 } from '../ground/digest.ts'
import { manifestFiles, parseManifest } from '../ground/image-manifest.ts'
import { inspectDiskImage } from '../task-driver/virt/disk-image.ts'
import { ApiError, backend } from './api-errors.ts'
import type { ObjectStore } from './object-store.ts'

/** The bucket images live in, as `npm run build:images` publishes them. */

/** File kinds an image is made of, besides its manifest. */
export const IMAGE_FILE_EXTENSIONS = ['vmlinuz', 'cpio.gz', 'qcow2'] as const
export type ImageFileExtension = (typeof IMAGE_FILE_EXTENSIONS)[number]
/** A manifest is a few KiB; anything much larger is not one. */
export const MAX_MANIFEST_BYTES = 1024 * 1024

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  vmlinuz: 'application/octet-stream',
  'cpio.gz': 'application/gzip',
  qcow2: 'application/octet-stream',
}

export interface ImageFileView {
  readonly key: string
  readonly sha256: string
  readonly size: number
  /** The file is in the bucket. */
  readonly present: boolean
}

export type ImageView =
  | {
      readonly sha256: string
      readonly name: string
      readonly boot: 'kernel' | 'disk'
      readonly size: number
      readonly files: readonly ImageFileView[]
    }
  | { readonly sha256: string; readonly error: string }

export interface Stored {
  readonly key: string
  readonly sha256: string
  readonly size: number
  /** False when the object was there already (same key, same digest, same bytes). */
  readonly uploaded: boolean
}

/** `<sha256>.<ext>` of an upload's URL; 400 naming what is wrong. */
export function parseFileName(file: string): { sha256: string; ext: ImageFileExtension } {
  const m = /^([^.]+)\.(.+)$/.exec(file)
  const ext = m?.[2] as ImageFileExtension | undefined
  if (!m || !SHA256.test(m[1]!) || !ext || !IMAGE_FILE_EXTENSIONS.includes(ext)) {
    throw new ApiError(
      400,
      'LEAN_ERR_API_REQUEST',
      `expected <sha256>.<ext> with 64 lower-case hexadecimal characters and ext one of ${IMAGE_FILE_EXTENSIONS.join(', ')}, got ${JSON.stringify(file).slice(0, 100)}`,
    )
  }
  return { sha256: m[1]!, ext }
}

/** What an upload may be; the controller's configuration (LEAN_IMAGE_MAX_FILE_SIZE, LEAN_IMAGE_MAX_DISK_SIZE). */
export interface ImageLimits {
  /** The largest file taken, in bytes: a longer body is cut off and refused. */
  readonly maxFileBytes: number
  /** The largest virtual disk a qcow2 may describe, in bytes. */
  readonly maxDiskBytes: number
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxFileBytes: 8 * 1024 ** 3, maxDiskBytes: 64 * 1024 ** 3 }

export class ImageStore {
  constructor(
    private readonly store: ObjectStore,
    /** Where uploads are hashed before they are stored. */
    private readonly scratch: string = tmpdir(),
    private readonly limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  ) {}

  /** Every manifest under images/, with its files and whether each is in the bucket. */
  async list(): Promise<ImageView[]> {
    const objects = await backend('S3', () => this.store.list('images/'))
    const present = new Set(objects.map((o) => o.key))
    const manifests = objects.flatMap((o) => {
      const parsed = parseImageKey(o.key)
      return parsed?.ext === 'json' ? [parsed.sha256] : []
    })
    return Promise.all(
      manifests.sort().map(async (sha256): Promise<ImageView> => {
        try {
          const manifest = parseManifest(
            await this.store.readText(imageKey(sha256, 'json'), MAX_MANIFEST_BYTES),
            sha256,
          )
          const files = manifestFiles(manifest).map((f) => ({
            key: f.key,
            sha256: f.sha256,
            size: f.size,
            present: present.has(f.key),
          }))
          return {
            sha256,
            name: manifest.name,
            boot: manifest.boot.kind,
            size: files.reduce((n, f) => n + f.size, 0),
            files,
          }
        } catch (err) {
          return { sha256, error: (err as Error).message }
        }
      }),
    )
  }

  async exists(sha256: string, ext: ImageFileExtension | 'json'): Promise<boolean> {
    return backend('S3', () => this.store.exists(imageKey(sha256, ext)))
  }

  /** Hashes the body into a temporary file; stores it under its key only if its sha256 is the one named. */
  async putFile(sha256: string, ext: ImageFileExtension, body: Readable): Promise<Stored> {
    const dir = await mkdtemp(path.join(this.scratch, 'lean-image-upload-'))
    try {
      const file = path.join(dir, `upload.${ext}`)
      const { maxFileBytes, maxDiskBytes } = this.limits
      const hashing = digestingStream(
        maxFileBytes,
        () =>
          new ApiError(
            413,
            'LEAN_ERR_IMAGE_TOO_LARGE',
            `${sha256}.${ext} is larger than the ${maxFileBytes} bytes an image file may be (LEAN_IMAGE_MAX_FILE_SIZE); nothing was stored`,
          ),
      )
      await pipeline(body, hashing.stream, createWriteStream(file))
      const { sha256: actual, size } = hashing.result()
      if (actual !== sha256) {
        throw new ApiError(
          400,
          'LEAN_ERR_IMAGE_DIGEST',
          `the body's sha256 is ${actual} (${size} bytes), not ${sha256}; nothing was stored`,
        )
      }
      if (size === 0) throw new ApiError(400, 'LEAN_ERR_API_REQUEST', 'the body is empty; nothing was stored')
      if (ext === 'qcow2') {
        const verdict = await inspectDiskImage(file, 'qcow2', { maxVirtualBytes: maxDiskBytes })
        if (!verdict.ok)
          throw new ApiError(
            400,
            'LEAN_ERR_IMAGE_REFUSED',
            `${sha256}.${ext} is refused: ${verdict.reason}; nothing was stored`,
          )
      }
      const key = imageKey(sha256, ext)
      if (await this.exists(sha256, ext)) return { key, sha256, size, uploaded: false }
      await backend('S3', () =>
        this.store.putFile(key, file, { 'Content-Type': CONTENT_TYPES[ext]!, 'x-amz-meta-sha256': sha256 }),
      )
      return { key, sha256, size, uploaded: true }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  /** Stores a manifest whose bytes have the digest named, whose schema holds and whose files are all there. */
  async putManifest(sha256: string, bytes: Buffer): Promise<Stored> {
    const actual = sha256Bytes(bytes)
    if (actual !== sha256)
      throw new ApiError(
        400,
        'LEAN_ERR_IMAGE_DIGEST',
        `the manifest's sha256 is ${actual}, not ${sha256}; nothing was stored`,
      )
    let files
    try {
      files = manifestFiles(parseManifest(bytes.toString('utf8'), sha256))
    } catch (err) {
      throw new ApiError(400, 'LEAN_ERR_IMAGE_MANIFEST', `${(err as Error).message}; nothing was stored`)
    }
    const missing = []
    for (const f of files) if (!(await backend('S3', () => this.store.exists(f.key)))) missing.push(f.key)
    if (missing.length > 0) {
      throw new ApiError(
        400,
        'LEAN_ERR_IMAGE_FILE_MISSING',
        `the manifest names files that are not uploaded yet: ${missing.join(', ')} (upload each to PUT /v1/images/files/<sha256>.<ext> first); nothing was stored`,
      )
    }
    const key = imageKey(sha256, 'json')
    const size = bytes.length
    if (await this.exists(sha256, 'json')) return { key, sha256, size, uploaded: false }
    await backend('S3', () =>
      this.store.putBytes(key, bytes, { 'Content-Type': CONTENT_TYPES.json!, 'x-amz-meta-sha256': sha256 }),
    )
    return { key, sha256, size, uploaded: true }
  }
}
