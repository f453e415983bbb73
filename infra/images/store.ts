// The local content-addressed store (store/<sha256>.<ext>, the same names as
// in S3) and the build cache: index/<image>-<inputs>.json records which
// manifest a build from those inputs produced, so an unchanged rebuild is a
// file read.
import { access, copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../cloud/files.ts'
import { sha256File, type ImageExtension } from '../../ground/digest.ts'
import {
  imageFile,
  manifestFiles,
  parseManifest,
  type BuiltManifest,
  type ImageFile,
  type ImageManifest,
} from '../../ground/image-manifest.ts'
import type { ImagePaths } from './paths.ts'

/** Where a file of the store lives on this machine. */
export function storePath(paths: ImagePaths, file: Pick<ImageFile, 'key'>): string {
  return path.join(paths.store, path.basename(file.key))
}

/** Adds a file to the store under its digest; `move` renames it in instead of copying. */
export async function storeFile(
  paths: ImagePaths,
  source: string,
  ext: ImageExtension,
  move = false,
): Promise<ImageFile> {
  const { sha256, size } = await sha256File(source)
  const file = imageFile(sha256, size, ext)
  const target = storePath(paths, file)
  await mkdir(paths.store, { recursive: true })
  if (!(await exists(target))) {
    const partial = `${target}.partial`
    if (move) await rename(source, partial)
    else await copyFile(source, partial)
    await rename(partial, target)
  } else if (move) {
    await rm(source, { force: true })
  }
  return file
}

export async function storeManifest(paths: ImagePaths, built: BuiltManifest): Promise<string> {
  const target = storePath(paths, built)
  await writeFileAtomic(target, built.text)
  return target
}

export interface CachedImage {
  readonly sha256: string
  readonly manifest: ImageManifest
  readonly file: string
}

/** What a build answers when the cache already holds the image (the shape of tiny.ts's BuiltImage). */
export function fromCache(name: string, hit: CachedImage): { name: string; sha256: string; manifest: ImageManifest; manifestFile: string; cached: true } {
  return { name, sha256: hit.sha256, manifest: hit.manifest, manifestFile: hit.file, cached: true }
}

/** The image built earlier from the same inputs, if its manifest and every file it names are still in the store. */
export async function cachedImage(
  paths: ImagePaths,
  name: string,
  inputs: string,
): Promise<CachedImage | undefined> {
  let sha256: string
  try {
    sha256 = (JSON.parse(await readFile(indexFile(paths, name, inputs), 'utf8')) as { manifest: string })
      .manifest
  } catch {
    return undefined
  }
  const file = path.join(paths.store, `${sha256}.json`)
  let manifest: ImageManifest
  try {
    manifest = parseManifest(await readFile(file, 'utf8'), sha256)
  } catch {
    return undefined
  }
  for (const f of manifestFiles(manifest)) if (!(await exists(storePath(paths, f)))) return undefined
  return { sha256, manifest, file }
}

export async function recordBuild(
  paths: ImagePaths,
  name: string,
  inputs: string,
  manifestSha256: string,
): Promise<void> {
  await writeFileAtomic(indexFile(paths, name, inputs), JSON.stringify({ manifest: manifestSha256 }) + '\n')
}

function indexFile(paths: ImagePaths, name: string, inputs: string): string {
  return path.join(paths.index, `${name}-${inputs}.json`)
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  )
}
