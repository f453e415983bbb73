// Reads a component's bytes from a local path, an http(s) URL, or an
// s3://bucket/key object (through the S3 API, so any S3 server works).
import { readFile } from 'node:fs/promises'
import { DriverError } from '../errors.ts'

export type { S3Access } from '../s3-client.ts'
import type { S3Access } from '../s3-client.ts'

const MAX_COMPONENT_BYTES = 256 * 1024 * 1024

export async function fetchComponent(source: string, s3?: S3Access): Promise<Uint8Array> {
  try {
    if (source.startsWith('/')) return await readFile(source)
    if (/^https?:\/\//.test(source)) {
      const res = await fetch(source, { signal: AbortSignal.timeout(60_000) })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const bytes = new Uint8Array(await res.arrayBuffer())
      if (bytes.length > MAX_COMPONENT_BYTES) throw new Error(`larger than ${MAX_COMPONENT_BYTES} bytes`)
      return bytes
    }
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(source)
    if (m) return await fromS3(m[1]!, m[2]!, s3)
  } catch (err) {
    if (err instanceof DriverError) throw err
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message
    // A network source may come back; a missing local file will not.
    throw new DriverError('LEAN_ERR_COMPONENT_FETCH', `cannot fetch component ${source}: ${reason}`, { recoverable: !source.startsWith('/') })
  }
  throw new DriverError('LEAN_ERR_COMPONENT_FETCH', `unsupported component source ${source}`)
}

async function fromS3(bucket: string, key: string, s3?: S3Access): Promise<Uint8Array> {
  if (!s3) throw new DriverError('LEAN_ERR_COMPONENT_FETCH', `component s3://${bucket}/${key}: the wasm plugin has no s3 settings in its agent config`)
  const { s3Client } = await import('../s3-client.ts') // only for s3:// sources on a cache miss
  const client = s3Client(s3)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of await client.getObject(bucket, key)) {
    size += (chunk as Buffer).length
    if (size > MAX_COMPONENT_BYTES) throw new Error(`larger than ${MAX_COMPONENT_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
