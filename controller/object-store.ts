// The few S3 operations the image API needs, on one bucket, over the `minio`
// client (plain S3, so any S3 server works); an interface so tests can pass an
// in-memory store.
import type * as Minio from 'minio'

export interface ObjectStore {
  /** Keys and sizes under `prefix`, recursively. */
  list(prefix: string): Promise<Array<{ key: string; size: number }>>
  exists(key: string): Promise<boolean>
  /** A small object as UTF-8 text; refuses one over `maxBytes`. */
  readText(key: string, maxBytes: number): Promise<string>
  putFile(key: string, file: string, meta: Record<string, string>): Promise<void>
  putBytes(key: string, bytes: Buffer, meta: Record<string, string>): Promise<void>
}

const notFound = (err: unknown) => ['NotFound', 'NoSuchKey'].includes((err as { code?: string }).code ?? '')

export function minioObjectStore(client: Minio.Client, bucket: string): ObjectStore {
  return {
    async list(prefix) {
      const out: Array<{ key: string; size: number }> = []
      for await (const item of client.listObjectsV2(bucket, prefix, true)) {
        if (item.name) out.push({ key: item.name, size: item.size })
      }
      return out
    },
    async exists(key) {
      try {
        await client.statObject(bucket, key)
        return true
      } catch (err) {
        if (notFound(err)) return false
        throw err
      }
    },
    async readText(key, maxBytes) {
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of await client.getObject(bucket, key)) {
        size += (chunk as Buffer).length
        if (size > maxBytes) throw new Error(`s3://${bucket}/${key} is larger than ${maxBytes} bytes`)
        chunks.push(chunk as Buffer)
      }
      return Buffer.concat(chunks).toString('utf8')
    },
    async putFile(key, file, meta) {
      await client.fPutObject(bucket, key, file, meta)
    },
    async putBytes(key, bytes, meta) {
      await client.putObject(bucket, key, bytes, bytes.length, meta)
    },
  }
}
