// Uploads a built image to the cloud's S3 server: every file it names, then
// its manifest, each under its digest (images/<sha256>.<ext> in `artifacts`).
// The manifest goes last, so a manifest in S3 means its files are there too.
// An object already present is left alone: same key, same digest, same bytes.
import type * as Minio from 'minio'
import { loadConfig, layout } from '../cloud/config.ts'
import { readEnvFile } from '../cloud/credentials.ts'
import { s3FromEnv } from '../components/publish.ts'
import { ARTIFACTS_BUCKET } from '../../ground/buckets.ts'
import { manifestFiles, type ImageFile, type ImageManifest } from '../../ground/image-manifest.ts'
import type { ImagePaths } from './paths.ts'
import { storePath } from './store.ts'

export interface Uploader {
  readonly s3: Minio.Client
  readonly endpoint: string
}

/**
 * An S3 client for uploading, from the cloud's env file (the publisher's
 * keys), or the reason there is none: the cloud was never started, or its S3
 * server does not answer.
 */
export async function connectS3(): Promise<Uploader | { reason: string }> {
  const envFile = layout(loadConfig()).envFile
  const env = { ...(await readEnvFile(envFile)), ...process.env }
  if (!env.S3_ENDPOINT || !env.S3_PUBLISHER_ACCESS_KEY)
    return { reason: `the local cloud is not up (no ${envFile}; start it with \`npm run cloud:up\`)` }
  const s3 = s3FromEnv(env, 'publisher')
  try {
    await s3.bucketExists(ARTIFACTS_BUCKET)
  } catch (err) {
    return {
      reason: `the S3 server at ${env.S3_ENDPOINT} does not answer (${(err as Error).message}); is the cloud up? \`npm run cloud:status\``,
    }
  }
  return { s3, endpoint: env.S3_ENDPOINT }
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  vmlinuz: 'application/octet-stream',
  'cpio.gz': 'application/gzip',
  qcow2: 'application/octet-stream',
}

/** Uploads the image; returns the keys it uploaded and those already there. */
export async function publishImage(
  s3: Minio.Client,
  paths: ImagePaths,
  image: { name: string; sha256: string; manifest: ImageManifest; manifestFile: string },
) {
  const uploaded: string[] = []
  const present: string[] = []
  const files: ImageFile[] = [
    ...manifestFiles(image.manifest),
    { key: `images/${image.sha256}.json`, sha256: image.sha256, size: 0 },
  ]
  for (const f of files) {
    const there = await s3.statObject(ARTIFACTS_BUCKET, f.key).then(
      () => true,
      () => false,
    )
    if (there) {
      present.push(f.key)
      continue
    }
    const ext = f.key.slice(f.key.indexOf('.') + 1)
    await s3.fPutObject(ARTIFACTS_BUCKET, f.key, storePath(paths, f), {
      'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'x-amz-meta-image': image.name,
      'x-amz-meta-sha256': f.sha256,
    })
    uploaded.push(f.key)
  }
  return { bucket: ARTIFACTS_BUCKET, uploaded, present }
}
