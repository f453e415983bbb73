// The wasm plugin options that say where components may come from besides the
// artifacts object their digest names: component_paths (local directories, as
// the virt driver's image_paths), component_hosts (http(s) hosts) and
// component_max_size. All default to nothing (and 256 MiB).
import { isIP } from 'node:net'
import path from 'node:path'
import { DriverError } from '../kit/errors.ts'
import {
  COMPONENT_MAX_BYTES_LIMIT,
  DEFAULT_COMPONENT_MAX_BYTES,
  type ComponentSources,
} from './fetch-component.ts'
import { isPublicAddress } from './public-address.ts'
import { parseSize } from '../../ground/units.ts'

export type { ComponentSources }

function fail(option: string, reason: string): never {
  throw new DriverError('LEAN_ERR_DRIVER_CONFIG', `plugin config ${option}: ${reason}`)
}

function strings(raw: unknown, option: string): string[] {
  const value = raw ?? []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === ''))
    fail(option, 'expected a list of strings')
  return value as string[]
}

/** A DNS name of letters, digits, dashes and dots. */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

function maxSize(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return DEFAULT_COMPONENT_MAX_BYTES
  try {
    if (typeof raw === 'string') return parseSize(raw)
  } catch {
    // refused below, naming the plugin's option
  }
  return fail('component_max_size', `expected a size such as "256MiB", got ${JSON.stringify(raw)}`)
}

export function parseComponentSources(raw: Record<string, unknown>): ComponentSources {
  const paths = strings(raw.component_paths, 'component_paths').map((dir) => {
    if (!path.isAbsolute(dir)) fail('component_paths', `${JSON.stringify(dir)} is not an absolute path`)
    const normal = path.resolve(dir)
    if (normal === '/') fail('component_paths', '"/" would allow every file on the client')
    return normal
  })
  const hosts = strings(raw.component_hosts, 'component_hosts').map((entry) => {
    const host = entry.toLowerCase()
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
    if (isIP(literal) !== 0) {
      if (!isPublicAddress(literal))
        fail(
          'component_hosts',
          `${entry} is a loopback, private, link-local or otherwise non-public address; components are never fetched from those`,
        )
      return literal
    }
    if (!HOST_NAME.test(host))
      fail(
        'component_hosts',
        `${JSON.stringify(entry)} is not a host name (write the host alone, such as components.example.com: no scheme, port or path)`,
      )
    return host
  })
  const maxBytes = maxSize(raw.component_max_size)
  if (maxBytes > COMPONENT_MAX_BYTES_LIMIT)
    fail('component_max_size', `at most ${COMPONENT_MAX_BYTES_LIMIT / 1024 ** 3}GiB`)
  return { paths, hosts, maxBytes }
}
