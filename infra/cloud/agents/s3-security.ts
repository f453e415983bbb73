// SeaweedFS's own security settings (security.toml in its working directory):
// nothing but the authenticated S3 API is of use to anyone but the S3 server.
//
// - Volume servers take reads and writes only with a JWT that the master (for
//   writes) or the reader itself (filer, gateway) signs with these keys; the
//   filer's HTTP API is off (-disableHttp), and would want its own JWTs.
// - gRPC between master, volume, filer and gateway, over TCP and over their
//   /tmp sockets alike, needs a client certificate of the S3 CA with one of the
//   parts' names.
// - The master's and the volume servers' HTTP ports speak HTTPS and want a
//   client certificate of that CA, so their status pages (bucket names, disk
//   paths) are closed too. That CA signs nothing else (tls.ts).
import { createHmac } from 'node:crypto'
import { layout, type CloudConfig } from '../config.ts'
import type { Credentials } from '../credentials.ts'
import { S3_PARTS, s3PartName, s3VolumeCertFiles, type S3Part } from '../tls.ts'

/** One signing key per purpose, derived from the stored seed (HMAC-SHA256). */
export function s3JwtKey(creds: Credentials, purpose: 'volume-write' | 'volume-read' | 'filer-write' | 'filer-read'): string {
  return createHmac('sha256', creds.s3JwtSeed).update(purpose).digest('base64url')
}

const q = JSON.stringify

/**
 * security.toml for the cloud's SeaweedFS: the host's server (master, filer,
 * gateway, and its volume server unless the objects live on the nodes), or a
 * cluster node's volume server, which serves as `volume` with its own
 * certificate and calls the master and the other volume servers as `client`.
 * Pure.
 */
export function s3SecurityToml(config: CloudConfig, creds: Credentials): string {
  const t = layout(config).tls.s3
  const allowed = q(S3_PARTS.map(s3PartName).join(','))
  const files = (part: S3Part) => (part === 'volume' ? s3VolumeCertFiles(config) : t.part(part))
  const pair = (part: S3Part) => [`cert = ${q(files(part).cert)}`, `key = ${q(files(part).key)}`]
  // Each server part checks its callers' names; the gateway calls as the client.
  const server = (section: string, part: S3Part) => [
    `[grpc.${section}]`,
    ...pair(part),
    `allowed_commonNames = ${allowed}`,
    '',
  ]
  const https = (part: S3Part) => [`[https.${part}]`, ...pair(part), `ca = ${q(t.caCert)}`, '']
  const volumeOnly = config.node !== undefined
  // The write key and the read key of a [jwt.<section>].
  const jwt = (section: string, of: 'volume' | 'filer') => [
    `[jwt.${section}]`,
    `key = ${q(s3JwtKey(creds, `${of}-write`))}`,
    '',
    `[jwt.${section}.read]`,
    `key = ${q(s3JwtKey(creds, `${of}-read`))}`,
    '',
  ]
  return [
    "# Written by 'npm run cloud:up' (infra/cloud/agents/s3-security.ts); edits are overwritten.",
    ...jwt('signing', 'volume'),
    ...(volumeOnly ? [] : jwt('filer_signing', 'filer')),
    '[grpc]',
    `ca = ${q(t.caCert)}`,
    '',
    ...(volumeOnly
      ? server('volume', 'volume')
      : [
          ...server('master', 'master'),
          ...server('volume', 'volume'),
          ...server('filer', 'filer'),
          ...server('s3', 'client'),
        ]),
    '[grpc.client]',
    ...pair('client'),
    '',
    '[https.client]',
    'enabled = true',
    ...pair('client'),
    `ca = ${q(t.caCert)}`,
    '',
    ...(volumeOnly ? https('volume') : [...https('master'), ...https('volume')]),
  ].join('\n')
}
