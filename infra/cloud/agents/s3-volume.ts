// A cluster node's S3 volume server (`weed volume`): where the cluster's
// objects live. The host's S3 server (s3.ts) keeps the master, the filer and
// the gateway, and with `-master.defaultReplication=001` places every object
// on two of these, so losing one node loses no object: reads go to the other
// copy, and new writes to volumes on the nodes that are left.
//
// It speaks only to the other parts of the S3 server, with certificates of
// the S3 CA (its own names the node's address: s3-security.ts), and takes
// reads and writes only with the master's JWTs.
import { mkdir, readFile } from 'node:fs/promises'
import { Agent as Dispatcher } from 'undici'
import { layout, servicesHost, type CloudConfig } from '../config.ts'
import type { Agent } from '../agent.ts'
import { writeFileAtomic } from '../files.ts'
import { s3SecurityToml } from './s3-security.ts'

/** Its security.toml, read from its working directory. */
export const s3VolumeSecurityFile = (config: CloudConfig) => `${layout(config).s3VolumeData}/security.toml`

/** The master as `weed volume -master` wants it: host:httpPort.grpcPort. */
export const s3MasterAddress = (config: CloudConfig) =>
  `${servicesHost(config)}:${config.s3.masterPort}.${config.s3.masterGrpcPort}`

interface VolumeStatus {
  readonly Volumes?: ReadonlyArray<{ readonly Collection?: string; readonly FileCount?: number }>
}

/** GET /status over HTTPS with the S3 client certificate, as the filer and the gateway read. */
async function volumeStatus(config: CloudConfig): Promise<VolumeStatus> {
  const t = layout(config).tls.s3
  const [ca, cert, key] = await Promise.all([t.caCert, t.part('client').cert, t.part('client').key].map((f) => readFile(f, 'utf8')))
  // A dispatcher of its own: the S3 CA and client certificate are for this request only.
  const dispatcher = new Dispatcher({ connect: { ca, cert, key } })
  try {
    const url = `https://${config.host}:${config.s3.volumePort}/status`
    // Node's fetch is undici's: it takes a dispatcher of the same undici version (as cloudFetch does).
    const res = await fetch(url, { dispatcher, signal: AbortSignal.timeout(2000) } as unknown as RequestInit)
    if (!res.ok) throw new Error(`GET /status: ${res.status}`)
    return (await res.json()) as VolumeStatus
  } finally {
    await dispatcher.close()
  }
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
