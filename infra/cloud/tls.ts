// The cloud's TLS: a private CA made at first start in the data dir, and the
// certificates it signs: Consul's and Nomad's, and those the shared services
// (S3's API, PostgreSQL, SMTP) serve with (ensureCloudCert). Kept across restarts; a certificate
// is made again only when it is missing, expires within RENEW_BEFORE_DAYS,
// names other hosts than the config's, or is not signed by the current CA.
//
// Made with Debian's openssl rather than `consul tls` / `nomad tls`: one CA must
// sign both agents' certificates, those subcommands write fixed, numbered file
// names into the working directory, and they would need the binaries built
// before the first certificate could be.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { isIP } from 'node:net'
import path from 'node:path'
import { Agent as Dispatcher } from 'undici'
import { cloudTag, layout, type CloudConfig } from './config.ts'
import { CloudError } from './errors.ts'
import { readTextIfExists } from './files.ts'
import { makeCert, readPair, type CertFiles } from './openssl.ts'

const CA_DAYS = 3650
/** Under 398 days: what browsers accept for a server certificate. */
const LEAF_DAYS = 397
const RENEW_BEFORE_DAYS = 30

/** The names a certificate must carry, as X509Certificate.subjectAltName lists them. */
export interface LeafSpec {
  readonly commonName: string
  readonly dnsNames: readonly string[]
  readonly ips: readonly string[]
}

const loopbackIps = (config: CloudConfig) => [...new Set(['127.0.0.1', config.host])]

/** Consul checks `server.<datacenter>.consul` on RPC (verify_server_hostname); clients of the HTTPS API use the IP or localhost. */
export function consulCertSpec(config: CloudConfig): LeafSpec {
  return {
    commonName: 'server.dc1.consul',
    dnsNames: ['server.dc1.consul', 'localhost'],
    ips: loopbackIps(config),
  }
}

/** One agent is Nomad's server and client: its certificate names both roles of region `global`. */
export function nomadCertSpec(config: CloudConfig): LeafSpec {
  return {
    commonName: 'server.global.nomad',
    dnsNames: ['server.global.nomad', 'client.global.nomad', 'localhost'],
    ips: loopbackIps(config),
  }
}

function sanText(spec: LeafSpec): string {
  return [...spec.dnsNames.map((n) => `DNS:${n}`), ...spec.ips.map((ip) => `IP Address:${ip}`)].join(', ')
}

/** Why `certPem` (with `keyPem`) must be made again; undefined when it is good. */
export function renewalReason(
  certPem: string | undefined,
  keyPem: string | undefined,
  ca: X509Certificate | undefined,
  spec?: LeafSpec,
  now = new Date(),
): string | undefined {
  if (certPem === undefined || keyPem === undefined) return 'missing'
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'its key does not match'
  } catch (err) {
    return `unreadable (${(err as Error).message})`
  }
  if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * 86_400_000)
    return `it expires ${cert.validTo}`
  if (ca && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) return 'it is not signed by the current CA'
  if (spec && cert.subjectAltName !== sanText(spec))
    return `it names ${cert.subjectAltName ?? 'no host'}, not ${sanText(spec)}`
  return undefined
}

/** What ensureTls made again, and why (empty when every file was kept). */
export type TlsRenewal = Array<{ file: string; reason: string }>

/** A leaf: its files, its names, and what it may be used for. */
interface Leaf {
  readonly files: CertFiles
  readonly spec: LeafSpec
  /** Each agent is a server to its callers and a client of its own RPC; a service only a server. */
  readonly usage: 'server' | 'server-and-client'
}

/** One CA and the leaves it signs. */
interface Authority {
  readonly files: CertFiles
  readonly name: string
  readonly leaves: readonly Leaf[]
}

/** The shared services that serve with a certificate of the cloud's CA. */
export const SERVICES = ['s3', 'postgres', 'smtp'] as const
export type Service = (typeof SERVICES)[number]

/**
 * The cloud's CAs: the one Consul's and Nomad's HTTPS and RPC, the shared
 * services (S3's API, PostgreSQL, SMTP) and their clients trust, and one of the
 * S3 server's own, whose certificates only its internal parts (master, volume,
 * filer, gateway) present to each other: any certificate of a CA passes
 * SeaweedFS's HTTPS client check, so that CA signs nothing else.
 */
function authorities(config: CloudConfig): Authority[] {
  const t = layout(config).tls
  const tag = cloudTag(config.node?.rootDir ?? config.dataDir)
  const main: Authority = {
    files: { cert: t.caCert, key: t.caKey },
    name: `Lean Cloud CA ${tag}`,
    leaves: [
      { files: { cert: t.consulCert, key: t.consulKey }, spec: consulCertSpec(config), usage: 'server-and-client' },
      { files: { cert: t.nomadCert, key: t.nomadKey }, spec: nomadCertSpec(config), usage: 'server-and-client' },
    ],
  }
  const s3 = { files: { cert: t.s3.caCert, key: t.s3.caKey }, name: `Lean Cloud S3 internals CA ${tag}` }
  // A cluster's node: the shared CA signs its own Consul and Nomad certificates, and the S3 CA its
  // volume server's; the rest of the S3 server is the host's.
  if (config.node) {
    return [main, { ...s3, leaves: [{ files: s3VolumeCertFiles(config), spec: s3PartCertSpec(config, 'volume'), usage: 'server-and-client' }] }]
  }
  return [main, { ...s3, leaves: S3_PARTS.map((part) => ({ files: t.s3.part(part), spec: s3PartCertSpec(config, part), usage: 'server-and-client' })) }]
}

/** The volume server's certificate: the single S3 server's part, or a cluster node's own (naming its address). */
export function s3VolumeCertFiles(config: CloudConfig): CertFiles {
  const t = layout(config).tls.s3
  return config.node ? t.nodeVolume(config.node.name) : t.part('volume')
}

/** The S3 server's parts, each with a certificate of its own (SeaweedFS checks their names on gRPC). */
export const S3_PARTS = ['master', 'volume', 'filer', 'client'] as const
export type S3Part = (typeof S3_PARTS)[number]

/** The common name SeaweedFS's gRPC allow-list (allowed_commonNames) checks for `part`. */
export const s3PartName = (part: S3Part) => `lean-s3-${part}`

export function s3PartCertSpec(config: CloudConfig, part: S3Part): LeafSpec {
  return { commonName: s3PartName(part), dnsNames: ['localhost'], ips: loopbackIps(config) }
}

/** Where the certificate of the cloud's CA named `name` is kept: tls/<name>.pem and tls/<name>-key.pem (0600). */
export function cloudCertFiles(config: CloudConfig, name: string): CertFiles {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || name === 'ca') throw new Error(`not a certificate name: '${name}'`)
  const dir = layout(config).tls.dir
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) }
}

export const serviceCertFiles = (config: CloudConfig, service: Service): CertFiles => cloudCertFiles(config, service)

/** What a shared service's certificate names: `<service>.service.consul` (its Consul name), localhost and the cloud's address. */
export const serviceHosts = (config: CloudConfig, service: Service): string[] => [`${service}.service.consul`, 'localhost', config.host]

/**
 * A certificate naming `hosts` (DNS names and IP addresses, in any mix; each
 * goes where it belongs) and calling itself by the first.
 */
export function certSpecFor(hosts: readonly string[]): LeafSpec {
  const unique = [...new Set(hosts)]
  if (unique.length === 0) throw new Error('a certificate must name at least one host')
  return { commonName: unique[0]!, dnsNames: unique.filter((h) => isIP(h) === 0), ips: unique.filter((h) => isIP(h) !== 0) }
}

const leafExtensions = (spec: LeafSpec, usage: Leaf['usage']) => [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature, keyEncipherment',
  `extendedKeyUsage = ${usage === 'server' ? 'serverAuth' : 'serverAuth, clientAuth'}`,
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
  `subjectAltName = ${[...spec.dnsNames.map((n) => `DNS:${n}`), ...spec.ips.map((ip) => `IP:${ip}`)].join(', ')}`,
]

/** Makes `leaf` again, signed by `ca`, when it is not good; returns why it was made, or undefined when kept. */
async function ensureLeaf(scratch: string, leaf: Leaf, caFiles: CertFiles, ca: X509Certificate): Promise<string | undefined> {
  const pair = await readPair(leaf.files)
  const reason = renewalReason(pair.cert, pair.key, ca, leaf.spec)
  if (!reason) return undefined
  await makeCert(scratch, leaf.files, leaf.spec.commonName, leafExtensions(leaf.spec, leaf.usage), LEAF_DAYS, caFiles)
  return reason
}

async function withScratch<T>(config: CloudConfig, fn: (scratch: string) => Promise<T>): Promise<T> {
  const t = layout(config).tls
  await mkdir(path.dirname(s3VolumeCertFiles(config).cert), { recursive: true, mode: 0o700 })
  await mkdir(t.leafDir, { recursive: true, mode: 0o700 })
  const scratch = await mkdtemp(path.join(t.dir, '.new-'))
  try {
    return await fn(scratch)
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

/**
 * A server certificate of the cloud's CA that names `hosts` (DNS names and IP
 * addresses), kept as tls/<name>.pem with its key tls/<name>-key.pem (0600):
 * made when missing or no longer good, by the same rules as the agents'
 * (renewalReason), and kept otherwise. The CA must exist (ensureTls makes it).
 * `renewed` says why it was made, when it was.
 */
export async function ensureCloudCert(
  config: CloudConfig,
  name: string,
  hosts: readonly string[],
): Promise<CertFiles & { renewed?: string }> {
  const files = cloudCertFiles(config, name)
  const t = layout(config).tls
  const caPem = await readTextIfExists(t.caCert)
  if (caPem === undefined) throw new CloudError('LEAN_ERR_CLOUD_START', `the cloud's CA ${t.caCert} is missing (cloud:up makes it)`)
  const leaf: Leaf = { files, spec: certSpecFor(hosts), usage: 'server' }
  const reason = await withScratch(config, (scratch) => ensureLeaf(scratch, leaf, { cert: t.caCert, key: t.caKey }, new X509Certificate(caPem)))
  return { ...files, ...(reason && { renewed: reason }) }
}

/**
 * Makes the CAs and the certificates that are missing or no longer good
 * (Consul's, Nomad's, the S3 server's parts', and the shared services'); idempotent.
 */
export async function ensureTls(config: CloudConfig): Promise<TlsRenewal> {
  const renewed = await withScratch(config, async (scratch) => {
    const renewed: TlsRenewal = []
    for (const authority of authorities(config)) {
      const caFiles = authority.files
      const stored = await readPair(caFiles)
      const caReason = renewalReason(stored.cert, stored.key, undefined)
      if (caReason) {
        await makeCert(
          scratch,
          caFiles,
          authority.name,
          ['basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash'],
          CA_DAYS,
        )
        renewed.push({ file: caFiles.cert, reason: caReason })
      }
      const ca = new X509Certificate(await readFile(caFiles.cert, 'utf8'))
      for (const leaf of authority.leaves) {
        const reason = await ensureLeaf(scratch, leaf, caFiles, ca)
        if (reason) renewed.push({ file: leaf.files.cert, reason })
      }
    }
    return renewed
  })
  // The shared services run once, on the host (a cluster's gateway): a node's config makes none of theirs.
  for (const service of config.node ? [] : SERVICES) {
    const made = await ensureCloudCert(config, service, serviceHosts(config, service))
    if (made.renewed) renewed.push({ file: made.cert, reason: made.renewed })
  }
  return renewed
}

const dispatchers = new Map<string, { pem: string; dispatcher: Dispatcher }>()

/**
 * A fetch dispatcher that trusts the cloud's CA (only it: these calls go to
 * the cloud's own agents), for the health checks and set-up calls of
 * `cloud:up` and `cloud:status`, which do not go through the user's CONSUL_CACERT.
 */
export async function cloudDispatcher(config: CloudConfig): Promise<Dispatcher> {
  const file = layout(config).tls.caCert
  const pem = await readTextIfExists(file)
  if (pem === undefined)
    throw new CloudError('LEAN_ERR_CLOUD_START', `the cloud's CA ${file} is missing (cloud:up makes it)`)
  const cached = dispatchers.get(file)
  if (cached?.pem === pem) return cached.dispatcher
  const dispatcher = new Dispatcher({ connect: { ca: pem } })
  dispatchers.set(file, { pem, dispatcher })
  return dispatcher
}

/** fetch to one of the cloud's agents over HTTPS, trusting the cloud's CA. */
export async function cloudFetch(
  config: CloudConfig,
  url: string,
  init: RequestInit = {},
): Promise<Response> {
  const dispatcher = await cloudDispatcher(config)
  // Node's fetch is undici's: it takes a dispatcher of the same undici version (package.json pins it to Node 20's).
  return fetch(url, { ...init, dispatcher } as unknown as RequestInit)
}
