// The cloud's TLS: a private CA made at first start in the data dir, and the
// Consul and Nomad certificates it signs. Kept across restarts; a certificate
// is made again only when it is missing, expires within RENEW_BEFORE_DAYS,
// names other hosts than the config's, or is not signed by the current CA.
//
// Made with Debian's openssl rather than `consul tls` / `nomad tls`: one CA must
// sign both agents' certificates, those subcommands write fixed, numbered file
// names into the working directory, and they would need the binaries built
// before the first certificate could be.
import { execFile } from 'node:child_process'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { Agent as Dispatcher } from 'undici'
import { cloudTag, layout, type CloudConfig } from './config.ts'
import { CloudError } from './errors.ts'
import { readTextIfExists } from './files.ts'

const run = promisify(execFile)

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

function opensslConfig(commonName: string, extensions: string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'O = Lean Cloud',
    `CN = ${commonName}`,
    '[ext]',
    ...extensions,
    '',
  ].join('\n')
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args)
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    const why =
      e.code === 'ENOENT'
        ? 'openssl is not installed (infra/prerequisites.sh installs it)'
        : (e.stderr ?? e.message).trim()
    throw new CloudError('LEAN_ERR_CLOUD_START', `could not make the cloud's TLS certificates: ${why}`)
  }
}

/**
 * Makes a key and a certificate (self-signed when `signer` is undefined) in
 * `scratch`, then moves them to `certFile` and `keyFile` (key mode 0600).
 */
async function makeCert(
  scratch: string,
  files: { cert: string; key: string },
  commonName: string,
  extensions: string[],
  days: number,
  signer?: { cert: string; key: string },
): Promise<void> {
  const name = path.basename(files.cert, '.pem')
  const cnf = path.join(scratch, `${name}.cnf`)
  const cert = path.join(scratch, `${name}.pem`)
  const key = path.join(scratch, `${name}-key.pem`)
  await writeFile(cnf, opensslConfig(commonName, extensions))
  // `req -x509 -CA` (OpenSSL 3) makes and signs in one step, with a random serial.
  await openssl([
    'req',
    '-x509',
    '-new',
    '-config',
    cnf,
    '-extensions',
    'ext',
    '-days',
    String(days),
    '-sha256',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-noenc',
    '-keyout',
    key,
    '-out',
    cert,
    ...(signer ? ['-CA', signer.cert, '-CAkey', signer.key] : []),
  ])
  await chmod(key, 0o600)
  await chmod(cert, 0o644)
  await rename(key, files.key)
  await rename(cert, files.cert)
}

async function readPair(files: { cert: string; key: string }) {
  return { cert: await readTextIfExists(files.cert), key: await readTextIfExists(files.key) }
}

/** What ensureTls made again, and why (empty when every file was kept). */
export type TlsRenewal = Array<{ file: string; reason: string }>

/** One CA and the leaves it signs. */
interface Authority {
  readonly files: { readonly cert: string; readonly key: string }
  readonly name: string
  readonly leaves: ReadonlyArray<{ readonly files: { readonly cert: string; readonly key: string }; readonly spec: LeafSpec }>
}

/**
 * The cloud's CAs: the one Consul's and Nomad's HTTPS and RPC and their
 * clients trust, and one of the S3 server's own, whose certificates only its
 * internal parts (master, volume, filer, gateway) present to each other: any
 * certificate of a CA passes SeaweedFS's HTTPS client check, so that CA signs
 * nothing else.
 */
function authorities(config: CloudConfig): Authority[] {
  const t = layout(config).tls
  const tag = cloudTag(config.node?.rootDir ?? config.dataDir)
  const main: Authority = {
    files: { cert: t.caCert, key: t.caKey },
    name: `Lean Cloud CA ${tag}`,
    leaves: [
      { files: { cert: t.consulCert, key: t.consulKey }, spec: consulCertSpec(config) },
      { files: { cert: t.nomadCert, key: t.nomadKey }, spec: nomadCertSpec(config) },
    ],
  }
  // A cluster's node: the shared CA signs its own Consul and Nomad certificates; the S3 server is the host's.
  if (config.node) return [main]
  return [
    main,
    {
      files: { cert: t.s3.caCert, key: t.s3.caKey },
      name: `Lean Cloud S3 internals CA ${tag}`,
      leaves: S3_PARTS.map((part) => ({ files: t.s3.part(part), spec: s3PartCertSpec(config, part) })),
    },
  ]
}

/** The S3 server's parts, each with a certificate of its own (SeaweedFS checks their names on gRPC). */
export const S3_PARTS = ['master', 'volume', 'filer', 'client'] as const
export type S3Part = (typeof S3_PARTS)[number]

/** The common name SeaweedFS's gRPC allow-list (allowed_commonNames) checks for `part`. */
export const s3PartName = (part: S3Part) => `lean-s3-${part}`

export function s3PartCertSpec(config: CloudConfig, part: S3Part): LeafSpec {
  return { commonName: s3PartName(part), dnsNames: ['localhost'], ips: loopbackIps(config) }
}

/** Makes the CAs and the certificates that are missing or no longer good; idempotent. */
export async function ensureTls(config: CloudConfig): Promise<TlsRenewal> {
  const t = layout(config).tls
  await mkdir(t.s3.dir, { recursive: true, mode: 0o700 })
  await mkdir(t.leafDir, { recursive: true, mode: 0o700 })
  const renewed: TlsRenewal = []
  const scratch = await mkdtemp(path.join(t.dir, '.new-'))
  try {
    for (const authority of authorities(config)) {
      const caFiles = authority.files
      const stored = await readPair(caFiles)
      const caReason = renewalReason(stored.cert, stored.key, undefined)
      if (caReason) {
        await makeCert(
          scratch,
          caFiles,
          authority.name,
          [
            'basicConstraints = critical, CA:TRUE, pathlen:0',
            'keyUsage = critical, keyCertSign, cRLSign',
            'subjectKeyIdentifier = hash',
          ],
          CA_DAYS,
        )
        renewed.push({ file: caFiles.cert, reason: caReason })
      }
      const ca = new X509Certificate(await readFile(caFiles.cert, 'utf8'))
      for (const { files, spec } of authority.leaves) {
        const pair = await readPair(files)
        const reason = renewalReason(pair.cert, pair.key, ca, spec)
        if (!reason) continue
        await makeCert(
          scratch,
          files,
          spec.commonName,
          [
            'basicConstraints = critical, CA:FALSE',
            'keyUsage = critical, digitalSignature, keyEncipherment',
            // Both: each agent is a server to its callers and a client of its own RPC.
            'extendedKeyUsage = serverAuth, clientAuth',
            'subjectKeyIdentifier = hash',
            'authorityKeyIdentifier = keyid',
            `subjectAltName = ${[...spec.dnsNames.map((n) => `DNS:${n}`), ...spec.ips.map((ip) => `IP:${ip}`)].join(', ')}`,
          ],
          LEAF_DAYS,
          caFiles,
        )
        renewed.push({ file: files.cert, reason })
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true })
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
