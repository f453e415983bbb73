// `npm run build:workloads`: builds every component, prints its size and
// digest, and uploads it to the `artifacts` bucket under its digest
// (components/<sha256>.wasm), where the wasm driver fetches it from.
// Uploading needs the local cloud (cloud.env); without it the build still runs.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as Minio from 'minio'
import { s3AccessFromEnv, s3Client } from '../../ground/s3-client.ts'
import { componentObjectKey } from '../../task-driver/wasm/component-source.ts'
import { loadConfig, layout } from '../cloud/config.ts'
import { readEnvFile } from '../cloud/credentials.ts'
import { buildComponentIfChanged, sharedGuestCode, type BuiltComponent } from '../../workloads/build-component.ts'

export const WORKLOADS = ['pdf', 'email', 'hello'] as const
import { ARTIFACTS_BUCKET } from '../../ground/buckets.ts'

/**
 * An S3 client from cloud.env's variables: the admin's keys (S3_ACCESS_KEY), or
 * the publisher's (S3_PUBLISHER_ACCESS_KEY), which may only write `artifacts`.
 */
export function s3FromEnv(env: Record<string, string | undefined>, user: 'admin' | 'publisher' = 'admin'): Minio.Client {
  const prefix = user === 'publisher' ? 'S3_PUBLISHER_' : 'S3_'
  // HTTPS verified against S3_CACERT (the cloud's CA) when cloud.env names it.
  return s3Client(s3AccessFromEnv(env, env[`${prefix}ACCESS_KEY`]!, env[`${prefix}SECRET_KEY`]!))
}

/** Uploads a component under its digest; an object already there is left as is (same digest, same bytes). */
export async function publishComponent(s3: Minio.Client, built: BuiltComponent): Promise<{ key: string; uploaded: boolean }> {
  const key = componentObjectKey(built.sha256)
  const present = await s3.statObject(ARTIFACTS_BUCKET, key).then(
    () => true,
    () => false,
  )
  if (!present) {
    const bytes = await readFile(built.file)
    await s3.putObject(ARTIFACTS_BUCKET, key, bytes, bytes.length, { 'Content-Type': 'application/wasm', 'x-amz-meta-component': built.name })
  }
  return { key, uploaded: !present }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = { ...(await readEnvFile(layout(loadConfig()).envFile)), ...process.env }
  const s3 = env.S3_ENDPOINT && env.S3_PUBLISHER_ACCESS_KEY ? s3FromEnv(env, 'publisher') : undefined
  if (!s3) console.log('the local cloud is not up (no cloud.env): building only, not uploading')
  for (const name of WORKLOADS) {
    const started = Date.now()
    const built = await buildComponentIfChanged(name, undefined, name === 'hello' ? [] : [sharedGuestCode])
    const where = path.relative(process.cwd(), built.file)
    console.log(`${name}: ${where}  ${(built.bytes / 2 ** 20).toFixed(1)} MiB  sha256:${built.sha256}  (${Date.now() - started} ms)`)
    if (s3) {
      const { key, uploaded } = await publishComponent(s3, built)
      console.log(`  ${uploaded ? 'uploaded to' : 'already in'} s3://${ARTIFACTS_BUCKET}/${key}`)
    }
  }
}
