// One way to build an S3 client from an endpoint URL and keys (the `minio`
// package speaks plain S3, so any S3 server works). An https endpoint is
// verified against the system's roots, or against the CA file given instead.
import { readFileSync } from 'node:fs'
import https from 'node:https'
import * as Minio from 'minio'

export interface S3Access {
  readonly endpoint: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
  /** A PEM file of the CAs an https endpoint's certificate must chain to (the local cloud's CA); absent: the system's roots. */
  readonly caFile?: string
}

export function s3Client(access: S3Access): Minio.Client {
  const url = new URL(access.endpoint)
  const useSSL = url.protocol === 'https:'
  return new Minio.Client({
    endPoint: url.hostname,
    port: Number(url.port || (useSSL ? 443 : 80)),
    useSSL,
    accessKey: access.accessKey,
    secretKey: access.secretKey,
    region: access.region,
    // Verification stays on (rejectUnauthorized's default): only the trusted CAs change.
    ...(useSSL && access.caFile !== undefined && { transportAgent: new https.Agent({ keepAlive: true, ca: readFileSync(access.caFile, 'utf8') }) }),
  })
}

/**
 * The S3 server an environment names the way cloud.env does (S3_ENDPOINT,
 * S3_REGION, S3_CACERT), with the given keys.
 */
export function s3AccessFromEnv(env: Readonly<Record<string, string | undefined>>, accessKey: string, secretKey: string): S3Access {
  if (!env.S3_ENDPOINT) throw new Error('S3_ENDPOINT is not set (source the cloud\'s cloud.env)')
  return {
    endpoint: env.S3_ENDPOINT,
    accessKey,
    secretKey,
    region: env.S3_REGION || 'us-east-1',
    ...(env.S3_CACERT && { caFile: env.S3_CACERT }),
  }
}

/** An object read whole: its data must come from a live copy, where a stat is answered from metadata alone. */
export async function readObjectBytes(client: Minio.Client, bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of await client.getObject(bucket, key)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
