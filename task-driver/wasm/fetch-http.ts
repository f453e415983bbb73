// Reads a component over http(s), only from a host on the wasm plugin's
// component_hosts, and never from a loopback, private, link-local or other
// non-public address, even a listed one: the name is resolved at connect time
// and every address it resolves to must be public (no window between the check
// and the connection for a rebinding name to exploit). No redirect is followed,
// and the body is read only up to component_max_size.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import { DriverError } from '../kit/errors.ts'
import { isPublicAddress } from './public-address.ts'
import { readCapped, tooLarge } from './read-capped.ts'

export interface HttpFetchOptions {
  /** component_hosts: the host names (or IP literals) a component may come from. */
  readonly hosts: readonly string[]
  readonly maxBytes: number
  readonly timeoutMs?: number
  /** Which addresses may be connected to: public ones. Only tests widen it. */
  readonly addressAllowed?: (address: string) => boolean
}

const bare = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host)

/** A host as a URL spells it (lower case, IP literals in canonical form, no brackets). */
function canonicalHost(host: string): string {
  const literal = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return bare(
    URL.canParse(`http://${literal}/`) ? new URL(`http://${literal}/`).hostname : host.toLowerCase(),
  )
}

function nonPublic(host: string, address: string): DriverError {
  const resolved = host === address ? '' : ` resolves to ${address}, which`
  return new DriverError(
    'LEAN_ERR_COMPONENT_SOURCE',
    `component host ${host}${resolved} is a loopback, private, link-local or otherwise non-public address; components are never fetched from those`,
  )
}

/** A lookup that fails unless every address the name resolves to is allowed. */
function checkedLookup(allowed: (address: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '')
      const bad = addresses.find((a) => !allowed(a.address))
      if (bad) return callback(nonPublic(hostname, bad.address), '')
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (!first)
        return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), '')
      callback(null, first.address, first.family)
    })
  }
}

function get(url: URL, lookup: LookupFunction, timeoutMs: number): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = client.get(url, {
      lookup,
      agent: false,
      headers: { accept: 'application/wasm, application/octet-stream' },
      signal: AbortSignal.timeout(timeoutMs),
    })
    req.once('response', resolve)
    req.once('error', reject)
  })
}

/** Refuses `url` unless its host is on `hosts` and, if an IP literal, allowed (public). */
export function checkListedHost(
  url: URL,
  hosts: readonly string[],
  allowed: (address: string) => boolean = isPublicAddress,
): void {
  const host = canonicalHost(url.hostname)
  if (!hosts.some((h) => canonicalHost(h) === host))
    throw new DriverError(
      'LEAN_ERR_COMPONENT_SOURCE',
      `component host ${host} is not in the wasm plugin's component_hosts (${hosts.join(', ') || 'none configured'})`,
    )
  // An IP literal is connected to without a lookup: check it here.
  if (isIP(host) !== 0 && !allowed(host)) throw nonPublic(host, host)
}

/** The component at `url`, refused unless its host is listed and every address of it public. */
export async function fetchHttpComponent(url: URL, o: HttpFetchOptions): Promise<Buffer> {
  const allowed = o.addressAllowed ?? isPublicAddress
  checkListedHost(url, o.hosts, allowed)
  const what = `component ${url.href}`
  const res = await get(url, checkedLookup(allowed), o.timeoutMs ?? 60_000)
  try {
    const status = res.statusCode ?? 0
    if (status >= 300 && status < 400)
      throw new DriverError(
        'LEAN_ERR_COMPONENT_SOURCE',
        `${what}: the server answered ${status}, a redirect; redirects are not followed, name the final URL`,
      )
    if (status < 200 || status >= 300)
      throw new DriverError('LEAN_ERR_COMPONENT_FETCH', `cannot fetch ${what}: HTTP ${status}`, {
        recoverable: true,
      })
    const length = Number(res.headers['content-length'])
    if (Number.isFinite(length) && length > o.maxBytes) throw tooLarge(what, o.maxBytes)
    return await readCapped(res, o.maxBytes, what)
  } finally {
    res.destroy()
  }
}
