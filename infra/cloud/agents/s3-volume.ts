// A cluster node's S3 volume server (`weed volume`): where the cluster's
// objects live. The host's S3 server (s3.ts) keeps the master, the filer and
// the gateway, and with `-master.defaultReplication=001` places every object
// on two of these, so losing one node loses no object: reads go to the other
// copy, and new writes to volumes on the nodes that are left.
//
// It speaks only to the other parts of the S3 server, with certificates of
// the S3 CA (its own names the node's address: s3-security.ts), and takes
// reads and writes only with the master's JWTs.
import { request } from 'node:https'
import { mkdir, readFile } from 'node:fs/promises'
import { layout, servicesHost, type CloudConfig } from '../config.ts'
import type { Agent } from '../agent.ts'
import { writeFileAtomic } from '../files.ts'
import { s3SecurityToml } from './s3-security.ts'

/** Its security.toml, read from its working directory. */
export const s3VolumeSecurityFile = (config: CloudConfig) => `${layout(config).s3VolumeData}/security.toml`

/** The master as `weed volume -master` wants it: host:httpPort.grpcPort. */
export const s3MasterAddress = (config: CloudConfig) =>
  `${servicesHost(config)}:${config.s3.masterPort}.${config.s3.masterGrpcPort}`

/**
 * GET /status over HTTPS with the S3 client certificate, as the filer and the
 * gateway read. Without an agent: the global one's options (a process may have
 * set its `ca`, controller/ca-trust.ts) would override this request's.
 */
interface VolumeStatus {
  readonly Volumes?: ReadonlyArray<{ readonly Collection?: string; readonly FileCount?: number }>
}

function volumeStatus(config: CloudConfig): Promise<VolumeStatus> {
  const t = layout(config).tls.s3
  return Promise.all([
    readFile(t.caCert),
    readFile(t.part('client').cert),
    readFile(t.part('client').key),
  ]).then(
    ([ca, cert, key]) =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: config.host,
            port: config.s3.volumePort,
            path: '/status',
            ca,
            cert,
            key,
            timeout: 2000,
            agent: false,
          },
          (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => (body += chunk))
            res.on('end', () => {
              if (res.statusCode !== 200) return reject(new Error(`GET /status: ${res.statusCode}`))
              try {
                resolve(JSON.parse(body) as VolumeStatus)
              } catch (err) {
                reject(err as Error)
              }
            })
          },
        )
        req.on('timeout', () => req.destroy(new Error('no answer within 2 s')))
        req.on('error', reject)
        req.end()
      }),
  )
}

/** How many files of a bucket (a SeaweedFS collection) this node's volume server holds. */
export async function storedFiles(config: CloudConfig, bucket: string): Promise<number> {
  const { Volumes = [] } = await volumeStatus(config)
  return Volumes.filter((v) => v.Collection === bucket).reduce((sum, v) => sum + (v.FileCount ?? 0), 0)
}

export const s3VolumeAgent: Agent = {
  name: 's3-volume',
  usesTls: true,
  programs: ['seaweedfs'],
  ports: (c) => [c.s3.volumePort, c.s3.volumeGrpcPort],
  stopSignal: 'SIGTERM',
  stopGraceMs: 20_000,

  async prepare({ config, credentials }) {
    await mkdir(layout(config).s3VolumeData, { recursive: true, mode: 0o700 })
    await writeFileAtomic(s3VolumeSecurityFile(config), s3SecurityToml(config, credentials), 0o600)
  },

  async restartReason({ config, credentials }) {
    const security = await readFile(s3VolumeSecurityFile(config), 'utf8').catch(() => '')
    return security === s3SecurityToml(config, credentials)
      ? undefined
      : `its security settings ${s3VolumeSecurityFile(config)} are out of date`
  },

  async spawnSpec({ config, binaries }) {
    const dir = layout(config).s3VolumeData
    return {
      command: binaries.seaweedfs!,
      args: [
        'volume',
        `-dir=${dir}`,
        `-ip=${config.host}`,
        `-ip.bind=${config.host}`,
        `-port=${config.s3.volumePort}`,
        `-port.grpc=${config.s3.volumeGrpcPort}`,
        `-master=${s3MasterAddress(config)}`,
        '-max=100',
        // A graceful stop first tells the master, so that no write is sent here meanwhile.
        '-preStopSeconds=2',
      ],
      // security.toml is read from the working directory.
      cwd: dir,
    }
  },

  async health({ config }) {
    const status = await volumeStatus(config)
    return `volume server on ${config.host}:${config.s3.volumePort}, ${status.Volumes?.length ?? 0} volumes`
  },
}
