// The inventory of real servers: which hosts make the cluster, by address,
// and which of them also runs the shared services. Read once, validated
// field by field (each error names its field), frozen.
import { readFile } from 'node:fs/promises'
import { isIPv4 } from 'node:net'
import path from 'node:path'
import { InventoryError } from './errors.ts'

export interface InventoryServer {
  /** Its node name in Consul and Nomad. */
  readonly name: string
  /** The IPv4 address it is reached at; every agent binds it. */
  readonly address: string
  /** The interface Nomad takes allocation addresses from. */
  readonly interface: string
}

export interface Inventory {
  readonly servers: readonly InventoryServer[]
  /** The server that also runs S3, PostgreSQL, SMTP and libvirt. */
  readonly services: string
  /** Agents' state, the shared services' data, the certificates: on each server. */
  readonly dataDir: string
  /** The repository checkout and the built binaries: on each server. */
  readonly installDir: string
}

export const MAX_SERVERS = 7
export const DEFAULT_DATA_DIR = '/var/lib/lean-cloud'
export const DEFAULT_INSTALL_DIR = '/opt/lean-cloud'

const TOP_FIELDS = ['servers', 'services', 'dataDir', 'installDir']
const SERVER_FIELDS = ['name', 'address', 'interface']

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

function refuseUnknown(value: Json, allowed: readonly string[], where: (key: string) => string): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) throw new InventoryError(where(key), `unknown field (allowed: ${allowed.join(', ')})`)
}

function text(value: unknown, field: string, pattern: RegExp, expected: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw new InventoryError(field, `expected ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`)
  return value
}

/** Absolute, normalised, no whitespace or characters a unit file or shell line would need quoted. */
function directory(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback
  const dir = text(value, field, /^\/[A-Za-z0-9._/-]*$/, 'an absolute path of letters, digits, . _ - and /')
  const normal = path.posix.normalize(dir).replace(/(.)\/$/, '$1')
  if (normal === '/') throw new InventoryError(field, 'expected a directory of its own, not /')
  return normal
}

function server(value: unknown, at: string): InventoryServer {
  if (!isObject(value)) throw new InventoryError(at, 'expected an object with name, address and interface')
  refuseUnknown(value, SERVER_FIELDS, (key) => `${at}.${key}`)
  const name = text(value.name, `${at}.name`, /^[a-z][a-z0-9-]{0,30}$/, 'a node name (a-z first, then a-z, 0-9, -; at most 31)')
  const address = value.address
  if (typeof address !== 'string' || !isIPv4(address)) throw new InventoryError(`${at}.address`, `expected an IPv4 address, got ${JSON.stringify(address) ?? 'nothing'}`)
  if (address.startsWith('127.') || address === '0.0.0.0') throw new InventoryError(`${at}.address`, `expected the server's own network address, not ${address}`)
  const iface = text(value.interface, `${at}.interface`, /^[A-Za-z0-9_.:-]{1,15}$/, 'a network interface name (at most 15 characters)')
  return { name, address, interface: iface }
}

/** Validates a parsed inventory document; throws InventoryError naming the first field at fault. */
export function parseInventory(value: unknown): Inventory {
  if (!isObject(value)) throw new InventoryError('(document)', 'expected a JSON object with servers and services')
  refuseUnknown(value, TOP_FIELDS, (key) => key)
  if (!Array.isArray(value.servers)) throw new InventoryError('servers', 'expected a list of servers')
  if (value.servers.length < 1 || value.servers.length > MAX_SERVERS)
    throw new InventoryError('servers', `expected 1 to ${MAX_SERVERS} servers (Consul and Nomad servers all), got ${value.servers.length}`)
  const servers = value.servers.map((s, i) => server(s, `servers[${i}]`))
  for (const [i, s] of servers.entries()) {
    const earlier = servers.slice(0, i)
    const sameName = earlier.findIndex((e) => e.name === s.name)
    if (sameName >= 0) throw new InventoryError(`servers[${i}].name`, `'${s.name}' is already servers[${sameName}]'s name`)
    const sameAddress = earlier.findIndex((e) => e.address === s.address)
    if (sameAddress >= 0) throw new InventoryError(`servers[${i}].address`, `${s.address} is already servers[${sameAddress}]'s address`)
  }
  const services = value.services
  if (typeof services !== 'string' || !servers.some((s) => s.name === services))
    throw new InventoryError('services', `expected the name of one of the servers (${servers.map((s) => s.name).join(', ')}), got ${JSON.stringify(services) ?? 'nothing'}`)
  const dataDir = directory(value.dataDir, 'dataDir', DEFAULT_DATA_DIR)
  const installDir = directory(value.installDir, 'installDir', DEFAULT_INSTALL_DIR)
  if (dataDir === installDir || dataDir.startsWith(`${installDir}/`) || installDir.startsWith(`${dataDir}/`))
    throw new InventoryError('installDir', `expected a directory apart from dataDir (${dataDir}), got ${installDir}`)
  return Object.freeze({ servers: Object.freeze(servers.map((s) => Object.freeze(s))), services, dataDir, installDir })
}

/** Reads and validates an inventory file. */
export async function readInventory(file: string): Promise<Inventory> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new InventoryError('(file)', `cannot read ${file}: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InventoryError('(file)', `${file} is not JSON: ${(err as Error).message}`)
  }
  return parseInventory(value)
}

/** The server of the shared services. */
export const servicesServer = (inventory: Inventory): InventoryServer => inventory.servers.find((s) => s.name === inventory.services)!
