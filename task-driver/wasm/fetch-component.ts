// Reads a component's bytes from where its task config says, if this node
// allows it: the artifacts object its digest names (through the S3 API, so any
// S3 server works), a local file inside component_paths (fetch-local.ts), or an
// http(s) URL on a host of component_hosts (fetch-http.ts). Every read stops at
// component_max_size.
import { createHash } from 'node:crypto'
import { locateComponent, type ComponentLocation } from './component-source.ts'
import { DriverError } from '../kit/errors.ts'
import { checkListedHost, fetchHttpComponent } from './fetch-http.ts'
import { checkListedPath, readLocalComponent } from './fetch-local.ts'
import { readCapped } from './read-capped.ts'

export type { S3Access } from '../../ground/s3-client.ts'
import type { S3Access } from '../../ground/s3-client.ts'

/** What the wasm plugin's config allows besides the artifacts object (component_paths, component_hosts, component_max_size). */
export interface ComponentSources {
  /** Directories local components may be read from; none by default. */
  readonly paths: readonly string[]
  /** Hosts http(s) components may be fetched from (never a non-public address); none by default. */
  readonly hosts: readonly string[]
  /** The largest component fetched, in bytes. */
  readonly maxBytes: number
}

/** The sources allowed, plus the fetch-only S3 identity for the artifacts object. */
export interface ComponentAccess extends ComponentSources {
  readonly s3?: S3Access
}

export const DEFAULT_COMPONENT_MAX_BYTES = 256 * 1024 ** 2
/** The largest component_max_size a plugin config may set. */
export const COMPONENT_MAX_BYTES_LIMIT = 2 * 1024 ** 3

/** A plugin config without component_* options: the artifacts object only. */
export const defaultComponentSources = (): ComponentSources => ({
  paths: [],
  hosts: [],
  maxBytes: DEFAULT_COMPONENT_MAX_BYTES,
})

/**
 * What `source` names, refused (LEAN_ERR_COMPONENT_SOURCE) unless it is the
 * artifacts object of `sha256`, a path inside component_paths or a URL on a
 * host of component_hosts. Reads no file and resolves no host name: a source
 * is checked this way even when its digest is cached.
 */
export async function checkComponentSource(
  source: string,
  sha256: string,
  access: ComponentSources,
): Promise<ComponentLocation> {
  const found = locateComponent(source, sha256)
  if ('problem' in found)
    throw new DriverError('LEAN_ERR_COMPONENT_SOURCE', `component ${source}: ${found.problem}`)
  const { location } = found
  if (location.kind === 'file') await checkListedPath(location.path, access.paths)
  if (location.kind === 'http') checkListedHost(location.url, access.hosts)
  return location
}

export async function fetchComponent(
  source: string,
  sha256: string,
  access: ComponentAccess,
): Promise<Uint8Array> {
  const location = await checkComponentSource(source, sha256, access)
  try {
    switch (location.kind) {
      case 'file':
        return await readLocalComponent(location.path, access.paths, access.maxBytes)
      case 'http':
        return await fetchHttpComponent(location.url, { hosts: access.hosts, maxBytes: access.maxBytes })
      case 's3':
        return await fromS3(location.bucket, location.key, access)
    }
  } catch (err) {
    if (err instanceof DriverError) throw err
    // A network source may come back.
    throw new DriverError(
      'LEAN_ERR_COMPONENT_FETCH',
      `cannot fetch component ${source}: ${(err as Error).message}`,
      {
        cause: err,
        recoverable: location.kind !== 'file',
      },
    )
  }
}

/**
 * The component's bytes from its source, refused unless their sha256 is the
 * task config's. The refusal names neither the digest nor the size of what
 * was read: a source must not become a way to learn about a file.
 */
export async function fetchVerifiedComponent(source: string, sha256: string, access: ComponentAccess): Promise<Uint8Array> {
  const bytes = await fetchComponent(source, sha256, access)
  if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
    throw new DriverError('LEAN_ERR_COMPONENT_DIGEST', `component ${source}: its sha256 is not the one the task config names (${sha256}); refusing to run it`)
  }
  return bytes
}

async function fromS3(bucket: string, key: string, access: ComponentAccess): Promise<Uint8Array> {
  const what = `component s3://${bucket}/${key}`
  if (!access.s3)
    throw new DriverError(
      'LEAN_ERR_COMPONENT_FETCH',
      `${what}: the wasm plugin has no s3 settings in its agent config`,
    )
  const { s3Client } = await import('../../ground/s3-client.ts') // only for s3:// sources on a cache miss
  return readCapped(await s3Client(access.s3).getObject(bucket, key), access.maxBytes, what)
}
