// Images on a node, by digest: the manifest and each file it names are fetched
// once (from S3, or from a local directory on the plugin's allow-list),
// checked against their sha256 and size, and kept in the image cache dir as
// `<sha256>.<ext>`. A file there has been verified: it only ever arrives by
// rename after its digest matched and, for a qcow2 disk, after qemu-img found
// it standing alone (no backing or data file: disk-image.ts), however it got
// into S3 or the allow-listed directory. Concurrent starts of one image share one
// fetch.
import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { access, mkdir, readFile, realpath, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { digestingStream } from '../../ground/digest.ts'
import {
  manifestFiles,
  parseManifest,
  type ImageFile,
  type ImageManifest,
} from '../../ground/image-manifest.ts'
import type { S3Access } from '../../ground/s3-client.ts'
import { inspectDiskImage } from './disk-image.ts'
import { VirtError } from './errors.ts'

export interface ImageSource {
  readonly sha256: string
  /** s3://bucket/key of the manifest, or an absolute path to it. */
  readonly location: string
}

export interface CachedImage {
  readonly sha256: string
  readonly manifest: ImageManifest
  /** Local path of each file the manifest names, by its sha256. */
  readonly files: ReadonlyMap<string, string>
  /** Whether anything had to be fetched for this start. */
  readonly fetched: boolean
}

export interface ImageCacheOptions {
  readonly cacheDir: string
  readonly imagePaths: readonly string[]
  readonly s3?: S3Access
}

type Opener = (name: string) => Promise<Readable>

const inflight = new Map<string, Promise<boolean>>()

/** Whether `file` lies inside one of `dirs` (both resolved through symlinks). */
export async function insideAllowList(file: string, dirs: readonly string[]): Promise<boolean> {
  const real = await realpath(file).catch(() => path.resolve(file))
  for (const dir of dirs) {
    const root = await realpath(dir).catch(() => path.resolve(dir))
    if (real.startsWith(root.endsWith('/') ? root : `${root}/`)) return true
  }
  return false
}

/** How to open the manifest's sibling files: beside it on disk, or beside its key in the bucket. */
async function opener(source: ImageSource, o: ImageCacheOptions): Promise<Opener> {
  if (source.location.startsWith('/')) {
    if (!(await insideAllowList(source.location, o.imagePaths))) {
      throw new VirtError(
        'LEAN_ERR_VIRT_IMAGE_PATH',
        `image ${source.location} is outside the directories the virt plugin allows (image_paths: ${o.imagePaths.join(', ') || 'none configured'})`,
      )
    }
    const dir = path.dirname(source.location)
    return async (name) => {
      const file = name === path.basename(source.location) ? source.location : path.join(dir, name)
      if (!(await insideAllowList(file, o.imagePaths)))
        throw new VirtError('LEAN_ERR_VIRT_IMAGE_PATH', `image file ${file} is outside image_paths`)
      await access(file).catch(() => {
        throw new VirtError('LEAN_ERR_VIRT_IMAGE', `image file ${file} does not exist`)
      })
      return createReadStream(file)
    }
  }
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(source.location)
  if (!m) throw new VirtError('LEAN_ERR_VIRT_IMAGE', `unsupported image location ${source.location}`)
  const [, bucket, key] = m as unknown as [string, string, string]
  if (!o.s3)
    throw new VirtError(
      'LEAN_ERR_VIRT_IMAGE',
      `image ${source.location}: the virt plugin has no s3 settings in its agent config`,
    )
  const { s3Client } = await import('../../ground/s3-client.ts')
  const client = s3Client(o.s3)
  const prefix = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : ''
  return async (name) => {
    const objectKey = name === path.posix.basename(key) ? key : `${prefix}${name}`
    try {
      return await client.getObject(bucket!, objectKey)
    } catch (err) {
      const e = err as { code?: string; message: string }
      const missing = e.code === 'NoSuchKey' || e.code === 'NotFound'
      throw new VirtError(
        'LEAN_ERR_VIRT_IMAGE',
        `cannot fetch s3://${bucket}/${objectKey}: ${missing ? 'no such object (was the image uploaded? `npm run build:images` uploads it)' : e.message}`,
        {
          recoverable: !missing,
        },
      )
    }
  }
}

/** Streams `input` into `target` (by rename, after the digest and size matched). */
async function fetchVerified(
  input: Readable,
  target: string,
  expect: { sha256: string; size?: number; what: string },
): Promise<void> {
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`
  const counter = digestingStream(
    expect.size ?? Number.MAX_SAFE_INTEGER,
    () => new VirtError('LEAN_ERR_VIRT_IMAGE_DIGEST', `${expect.what} is larger than the ${expect.size} bytes its manifest names`),
  )
  try {
    await pipeline(input, counter.stream, createWriteStream(partial, { mode: 0o644 }))
    const { sha256: got, size } = counter.result()
    if (got !== expect.sha256)
      throw new VirtError(
        'LEAN_ERR_VIRT_IMAGE_DIGEST',
        `${expect.what} has sha256 ${got}, but it is named by ${expect.sha256}`,
      )
    if (expect.size !== undefined && size !== expect.size)
      throw new VirtError(
        'LEAN_ERR_VIRT_IMAGE_DIGEST',
        `${expect.what} is ${size} bytes, its manifest says ${expect.size}`,
      )
    if (target.endsWith('.qcow2')) {
      const verdict = await inspectDiskImage(partial, 'qcow2')
      if (!verdict.ok)
        throw new VirtError('LEAN_ERR_VIRT_IMAGE', `${expect.what} is refused: ${verdict.reason}`)
    }
    await rename(partial, target)
  } catch (err) {
    await rm(partial, { force: true })
    if (err instanceof VirtError) throw err
    throw new VirtError('LEAN_ERR_VIRT_IMAGE', `cannot fetch ${expect.what}: ${(err as Error).message}`, {
      cause: err,
      recoverable: true,
    })
  }
}

/** Fetches one object into the cache unless it is there; true if it fetched. Shared by concurrent callers. */
function ensureFile(
  cacheDir: string,
  name: string,
  open: Opener,
  expect: { sha256: string; size?: number; what: string },
): Promise<boolean> {
  const target = path.join(cacheDir, name)
  const key = target
  const running = inflight.get(key)
  if (running) return running
  const work = (async () => {
    if (
      await access(target).then(
        () => true,
        () => false,
      )
    )
      return false
    await fetchVerified(await open(name), target, expect)
    return true
  })().finally(() => inflight.delete(key))
  inflight.set(key, work)
  return work
}

const fileName = (f: ImageFile) => path.posix.basename(f.key)

/** The image's verified files in the cache, fetching what is missing. */
export async function ensureImage(source: ImageSource, o: ImageCacheOptions): Promise<CachedImage> {
  await mkdir(o.cacheDir, { recursive: true })
  const open = await opener(source, o)
  const manifestName = source.location.startsWith('/')
    ? path.basename(source.location)
    : path.posix.basename(source.location)
  const cachedManifest = path.join(o.cacheDir, `${source.sha256}.json`)
  // The manifest is cached under its digest whatever the source calls it.
  const fetchedManifest = await ensureFile(
    o.cacheDir,
    `${source.sha256}.json`,
    (n) => open(n === `${source.sha256}.json` ? manifestName : n),
    {
      sha256: source.sha256,
      what: `image manifest ${source.location}`,
    },
  )
  let manifest: ImageManifest
  try {
    manifest = parseManifest(await readFile(cachedManifest, 'utf8'), source.sha256)
  } catch (err) {
    throw new VirtError('LEAN_ERR_VIRT_IMAGE', `image ${source.sha256}: ${(err as Error).message}`)
  }
  const files = new Map<string, string>()
  let fetched = fetchedManifest
  for (const f of manifestFiles(manifest)) {
    const got = await ensureFile(o.cacheDir, fileName(f), open, {
      sha256: f.sha256,
      size: f.size,
      what: `image file ${f.key}`,
    })
    fetched ||= got
    files.set(f.sha256, path.join(o.cacheDir, fileName(f)))
  }
  return { sha256: source.sha256, manifest, files, fetched }
}
