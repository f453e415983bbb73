// One way to build an S3 client from an endpoint URL and keys (the `minio`
// package speaks plain S3, so any S3 server works).
import * as Minio from 'minio'

export interface S3Access {
  readonly endpoint: string
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
}

export function s3Client(access: S3Access): Minio.Client {
  const url = new URL(access.endpoint)
  return new Minio.Client({
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    useSSL: url.protocol === 'https:',
    accessKey: access.accessKey,
    secretKey: access.secretKey,
    region: access.region,
  })
}
