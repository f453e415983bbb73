// The S3 server (MinIO). Everything else speaks only the S3 API to it, so any
// S3-compatible server could stand in.
import { mkdir } from 'node:fs/promises'
import type * as Minio from 'minio'
import { s3Client } from '../../../task-driver/s3-client.ts'
import { layout, type CloudConfig } from '../config.ts'
import type { Credentials } from '../credentials.ts'
import { httpGet, type Agent } from '../agent.ts'

export function cloudS3Client(config: CloudConfig, creds: Credentials): Minio.Client {
  return s3Client({ endpoint: `http://${config.host}:${config.minio.apiPort}`, accessKey: creds.s3AccessKey, secretKey: creds.s3SecretKey, region: 'us-east-1' })
}

export const minioAgent: Agent = {
  name: 'minio',
  programs: ['minio'],
  ports: (c) => [c.minio.apiPort, c.minio.consolePort],
  stopSignal: 'SIGTERM',
  stopGraceMs: 10_000,

  async prepare({ config }) {
    await mkdir(layout(config).minioData, { recursive: true })
  },

  async spawnSpec({ config, credentials, binaries }) {
    const h = config.host
    return {
      command: binaries.minio!,
      args: [
        'server',
        layout(config).minioData,
        '--address',
        `${h}:${config.minio.apiPort}`,
        '--console-address',
        `${h}:${config.minio.consolePort}`,
        '--quiet',
      ],
      env: {
        ...process.env,
        MINIO_ROOT_USER: credentials.s3AccessKey,
        MINIO_ROOT_PASSWORD: credentials.s3SecretKey,
        MINIO_UPDATE: 'off',
        MINIO_REGION: 'us-east-1',
      },
    }
  },

  async health({ config }) {
    const res = await httpGet(`http://${config.host}:${config.minio.apiPort}/minio/health/live`)
    return res.ok ? `S3 API on ${config.host}:${config.minio.apiPort}` : false
  },

  async ensureResources({ config, credentials }) {
    const s3 = cloudS3Client(config, credentials)
    for (const bucket of config.minio.buckets) {
      // New buckets are private: no bucket policy is set, so only signed requests get in.
      if (!(await s3.bucketExists(bucket))) await s3.makeBucket(bucket, 'us-east-1')
    }
  },
}
