// The grammar of an outbound HTTP grant (`grants.outbound` in an app
// document, `outbound` in a wasm job's grants block): a scheme, a host and
// an optional port, nothing else. One parser for the controller, leanctl and
// the driver; a refusal is a UnitError carrying only the reason, and the
// caller names the field.
import { isIP } from 'node:net'
import { UnitError } from './units.ts'

export interface OutboundGrant {
  readonly scheme: 'http' | 'https'
  /** Lower case, no trailing dot; an IPv6 literal without brackets. */
  readonly host: string
  /** Absent: the scheme's default, or (for a Consul service) the port its SRV record gives. */
  readonly port?: number
}

/** At most this many grants per app: each is a hole in the wall, listed on purpose. */
export const MAX_OUTBOUND_GRANTS = 32

const CONSUL_SERVICE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.service\.consul$/
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

/** True for a host the grant resolves through Consul's DNS (port from SRV). */
export const isConsulService = (host: string): boolean => CONSUL_SERVICE.test(host)

/** Addresses no grant opens: the node itself and the link-local range (cloud metadata services live there). */
function unreachableAddress(host: string): boolean {
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number)
    return a === 127 || a === 0 || (a === 169 && b === 254)
  }
  const v6 = host.toLowerCase()
  if (v6 === '::' || v6 === '::1') return true
  if (/^fe[89ab]/.test(v6)) return true
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6)
  return mapped ? unreachableAddress(mapped[1]!) : false
}

/** The longest grant, in characters. */
export const MAX_OUTBOUND_GRANT_LENGTH = 300
/** A grant's form: a scheme, a host (an IPv6 literal in brackets) and an optional port, nothing else. */
export const OUTBOUND_GRANT_FORM = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[^/:?#@[\]]+)(?::(\d{1,5}))?\/?$/

/** Parses `http://email.service.consul`, `https://api.example.com:8443`; throws UnitError with the reason. */
export function parseOutboundGrant(raw: string): OutboundGrant {
  if (raw.length > MAX_OUTBOUND_GRANT_LENGTH)
    throw new UnitError(`longer than ${MAX_OUTBOUND_GRANT_LENGTH} characters`)
  const m = OUTBOUND_GRANT_FORM.exec(raw)
  if (!m) {
    throw new UnitError(
      `expected "http://host", "https://host" or either with ":port", and no path, query or user, got ${JSON.stringify(raw.slice(0, 100))}`,
    )
  }
  const scheme = m[1] as 'http' | 'https'
  const bracketed = m[2]!.startsWith('[')
  const host = (bracketed ? m[2]!.slice(1, -1) : m[2]!).toLowerCase().replace(/\.$/, '')
  if (bracketed ? isIP(host) !== 6 : !(isIP(host) === 4 || DNS_NAME.test(host))) {
    throw new UnitError(`${JSON.stringify(m[2])} is not a host name or an IP address`)
  }
  if (host === 'localhost' || host.endsWith('.localhost') || unreachableAddress(host)) {
    throw new UnitError(`${host} is the node itself or a link-local address, which no component may reach`)
  }
  const port = m[3] === undefined ? undefined : Number(m[3])
  if (port !== undefined && (port < 1 || port > 65535))
    throw new UnitError(`port ${m[3]} is not between 1 and 65535`)
  if (host.endsWith('.consul')) {
    if (!isConsulService(host))
      throw new UnitError(`${host}: a Consul name is granted as "<service>.service.consul"`)
    if (port !== undefined)
      throw new UnitError(`${host}: a Consul service's port comes from its SRV record; leave the port out`)
  }
  return { scheme, host, ...(port !== undefined && { port }) }
}

/** The grant as written in documents, normalised. */
export function formatOutboundGrant(grant: OutboundGrant): string {
  const host = isIP(grant.host) === 6 ? `[${grant.host}]` : grant.host
  return `${grant.scheme}://${host}${grant.port === undefined ? '' : `:${grant.port}`}`
}
