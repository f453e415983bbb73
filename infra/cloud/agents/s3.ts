// The S3 server: SeaweedFS (`weed server`: a master, a volume server, a filer
// and the S3 gateway in one process). Everything else speaks only the S3 API
// to it. Every user of S3 has its own identity, limited to the buckets it needs;
// there is no anonymous identity, so buckets are private. The S3 API speaks
// HTTPS only, with a certificate of the cloud's CA (tls.ts). A task's bucket
// capability uses the identity of that one bucket, so S3 itself refuses a key
// a task holds on any bucket it was not granted.
import { createHmac } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import type * as Minio from 'minio'
import { s3Client } from '../../../ground/s3-client.ts'
import { layout, servicesHost, type CloudConfig } from '../config.ts'
import type { Credentials } from '../credentials.ts'
import type { Agent } from '../agent.ts'
import { writeFileAtomic } from '../files.ts'
import { serviceCertFiles } from '../tls.ts'
import { servesOtherCertificate } from '../tls-probe.ts'
import { waitFor } from '../wait.ts'
import { s3SecurityToml } from './s3-security.ts'

import { ARTIFACTS_BUCKET } from '../../../ground/buckets.ts'

/** The S3 API's address: HTTPS only, with a certificate of the cloud's CA. */
/** The S3 API: on the host itself, or a cluster's gateway. */
export const s3Endpoint = (config: CloudConfig) => `https://${servicesHost(config)}:${config.s3.port}`

export function cloudS3Client(config: CloudConfig, creds: Credentials): Minio.Client {
  return s3Client({ endpoint: s3Endpoint(config), accessKey: creds.s3AccessKey, secretKey: creds.s3SecretKey, region: 'us-east-1', caFile: layout(config).tls.caCert })
}

/** The buckets tasks may be granted: every configured bucket but `artifacts`. */
export function dataBuckets(config: CloudConfig): string[] {
  return config.s3.buckets.filter((bucket) => bucket !== ARTIFACTS_BUCKET)
}

export interface S3Keys {
  readonly accessKey: string
  readonly secretKey: string
}

/**
 * A data bucket's own keys, derived from one stored seed (HMAC-SHA256 of the
 * bucket's name): a bucket added to the config gets its identity without a new
 * field in credentials.json, and an older credentials file only gains the seed.
 * The access key names the bucket, so logs and SeaweedFS's answers say which.
 */
export function s3BucketCredentials(creds: Credentials, bucket: string): S3Keys {
  const mac = (purpose: string) => createHmac('sha256', creds.s3BucketKeySeed).update(`${purpose}\0${bucket}`).digest('base64url')
  return { accessKey: `lean-bucket-${bucket}-${mac('access-key').slice(0, 8)}`, secretKey: mac('secret-key') }
}

interface S3Identity {
  readonly name: string
  readonly credentials: ReadonlyArray<{ readonly accessKey: string; readonly secretKey: string }>
  readonly actions: readonly string[]
}

/** `Action:bucket` grants for each bucket: SeaweedFS's way of scoping an identity to buckets. */
function on(buckets: readonly string[], actions: readonly string[]): string[] {
  return buckets.flatMap((bucket) => actions.map((action) => `${action}:${bucket}`))
}

/** The S3 identities: one per user of S3, each with only what it needs; one per data bucket. */
export function s3Identities(creds: Credentials, buckets: readonly string[]): { identities: S3Identity[] } {
  return {
    identities: [
      {
        // cloud:up (buckets), the operator and the tests.
        name: 'admin',
        credentials: [{ accessKey: creds.s3AccessKey, secretKey: creds.s3SecretKey }],
        actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'],
      },
      {
        // build:workloads and the demo publish components by digest.
        name: 'publisher',
        credentials: [{ accessKey: creds.s3PublisherAccessKey, secretKey: creds.s3PublisherSecretKey }],
        actions: on([ARTIFACTS_BUCKET], ['Read', 'List', 'Write']),
      },
      {
        // The wasm and virt drivers (and the runners) fetch components and VM images: read only.
        name: 'artifact-reader',
        credentials: [{ accessKey: creds.s3DriverAccessKey, secretKey: creds.s3DriverSecretKey }],
        actions: on([ARTIFACTS_BUCKET], ['Read', 'List']),
      },
      // The tasks' bucket capability: a runner holds the keys of its granted buckets only.
      ...buckets.map((bucket) => ({
        name: `bucket-${bucket}`,
        credentials: [s3BucketCredentials(creds, bucket)],
        actions: on([bucket], ['Read', 'List', 'Write', 'Tagging']),
      })),
    ],
  }
}

function identitiesJson(config: CloudConfig, creds: Credentials): string {
  return `${JSON.stringify(s3Identities(creds, dataBuckets(config)), null, 2)}\n`
}

export const s3Agent: Agent = {
  name: 's3',
  // Its S3 API serves a certificate of the cloud's CA, and its parts present certificates of the S3 CA to
  // each other (s3-security.ts): restarted when they are renewed.
  usesTls: true,
  programs: ['seaweedfs'],
  ports: (c) => [
    ...[c.s3.port, c.s3.masterPort, c.s3.filerPort, c.s3.masterGrpcPort, c.s3.filerGrpcPort, c.s3.s3GrpcPort],
    ...(c.objectsOnNodes ? [] : [c.s3.volumePort, c.s3.volumeGrpcPort]),
  ],
  stopSignal: 'SIGTERM',
  stopGraceMs: 40_000,

  async prepare({ config, credentials }) {
    const paths = layout(config)
    await mkdir(paths.s3Data, { recursive: true })
    await writeFileAtomic(paths.s3Identities, identitiesJson(config, credentials), 0o600)
    await writeFileAtomic(paths.s3Security, s3SecurityToml(config, credentials), 0o600)
  },

  // The gateway reads its identities, and every part its security settings, at start: changes need a restart.
  async restartReason({ config, credentials }) {
    const paths = layout(config)
    const identities = await readFile(paths.s3Identities, 'utf8').catch(() => '')
    if (identities !== identitiesJson(config, credentials)) return `its identities ${paths.s3Identities} are out of date`
    const security = await readFile(paths.s3Security, 'utf8').catch(() => '')
    if (security !== s3SecurityToml(config, credentials)) return `its security settings ${paths.s3Security} are out of date`
    const served = await servesOtherCertificate(config.host, config.s3.port, 'tls', { caFile: paths.tls.caCert, certFile: serviceCertFiles(config, 's3').cert })
    return served && `its S3 API: ${served}`
  },

  async spawnSpec({ config, binaries }) {
    const paths = layout(config)
    const h = config.host
    const s = config.s3
    return {
      command: binaries.seaweedfs!,
      args: [
        'server',
        `-dir=${paths.s3Data}`,
        // Only the S3 API over HTTP: the master's and the filer's HTTP APIs are off (security.toml closes the rest).
        '-disableHttp',
        `-ip=${h}`,
        `-ip.bind=${h}`,
        `-master.port=${s.masterPort}`,
        `-master.port.grpc=${s.masterGrpcPort}`,
        // Small volumes: a bucket is a collection, and each grows its own volumes.
        '-master.volumeSizeLimitMB=256',
        // No anonymous usage reports leave the machine.
        '-master.telemetry=false',
        ...(config.objectsOnNodes
          ? // A cluster's objects: two copies of each on two of the nodes' volume servers (s3-volume.ts), none here.
            ['-volume=false', '-master.defaultReplication=001']
          : [
              `-volume.port=${s.volumePort}`,
              `-volume.port.grpc=${s.volumeGrpcPort}`,
              '-volume.max=100',
              // Stop at once: this single node has no peers to drain to.
              '-volume.preStopSeconds=0',
            ]),
        `-filer.port=${s.filerPort}`,
        `-filer.port.grpc=${s.filerGrpcPort}`,
        '-s3',
        `-s3.port=${s.port}`,
        // HTTPS only on the S3 port (no -s3.port.https), with a certificate of the cloud's CA; clients verify it.
        `-s3.cert.file=${serviceCertFiles(config, 's3').cert}`,
        `-s3.key.file=${serviceCertFiles(config, 's3').key}`,
        `-s3.port.grpc=${s.s3GrpcPort}`,
        `-s3.config=${paths.s3Identities}`,
        // Buckets are made by cloud:up only, never as a side effect of an upload.
        '-s3.autoCreateBucket=false',
        // Listeners we do not use stay closed.
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
      ],
      // The filer keeps its metadata store, and every part reads security.toml, relative to the working directory.
      cwd: paths.s3Data,
    }
  },

  async health({ config, credentials }) {
    // A signed request: healthy means the gateway answers and knows our identities.
    const s3 = cloudS3Client(config, credentials)
    await Promise.race([s3.listBuckets(), new Promise((_, reject) => setTimeout(() => reject(new Error('S3 did not answer within 2 s')), 2000).unref())])
    return `S3 API on ${s3Endpoint(config)}`
  },

  async ensureResources({ config, credentials, progress }) {
    const s3 = cloudS3Client(config, credentials)
    // The gateway answers (health) a moment before its gRPC to the filer has
    // loaded the S3 CA, and a bucket is a filer entry: made again until it holds.
    await waitFor(
      async () => {
        for (const bucket of config.s3.buckets) {
          // New buckets are private: no identity grants anonymous access.
          if (!(await s3.bucketExists(bucket))) await s3.makeBucket(bucket, 'us-east-1')
        }
        return true
      },
      {
        timeoutMs: config.startTimeoutMs,
        intervalMs: 1000,
        what: `S3 to make its buckets (${config.s3.buckets.join(', ')})`,
        onProgress: (ms, err) => progress(`  waiting for S3 to make its buckets (${Math.round(ms / 1000)}s${err instanceof Error ? `: ${err.message}` : ''})`),
      },
    )
  },
}
