// Which addresses the driver may fetch a component from: public unicast only.
// Loopback, private, link-local (cloud metadata services), unspecified,
// shared (CGNAT), multicast, reserved and documentation ranges are refused, and
// so is every IPv6 form that embeds an IPv4 address (mapped, compatible, NAT64,
// 6to4, Teredo), since it may lead to any of those.
import { BlockList, isIP } from 'node:net'

// One list per family: a BlockList matches IPv4 addresses against IPv4-mapped IPv6 rules and back.
const refused = { ipv4: new BlockList(), ipv6: new BlockList() }
const ranges: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], // "this network", unspecified
  ['10.0.0.0', 8, 'ipv4'], // private
  ['100.64.0.0', 10, 'ipv4'], // shared address space (carrier-grade NAT)
  ['127.0.0.0', 8, 'ipv4'], // loopback
  ['169.254.0.0', 16, 'ipv4'], // link-local
  ['172.16.0.0', 12, 'ipv4'], // private
  ['192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['192.0.2.0', 24, 'ipv4'], // documentation
  ['192.88.99.0', 24, 'ipv4'], // 6to4 relay anycast
  ['192.168.0.0', 16, 'ipv4'], // private
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['198.51.100.0', 24, 'ipv4'], // documentation
  ['203.0.113.0', 24, 'ipv4'], // documentation
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 96, 'ipv6'], // unspecified, loopback, IPv4-compatible
  ['::ffff:0:0', 96, 'ipv6'], // IPv4-mapped
  ['64:ff9b::', 96, 'ipv6'], // NAT64
  ['64:ff9b:1::', 48, 'ipv6'], // local NAT64
  ['100::', 64, 'ipv6'], // discard
  ['2001::', 23, 'ipv6'], // IETF protocol assignments, Teredo among them
  ['2001:db8::', 32, 'ipv6'], // documentation
  ['2002::', 16, 'ipv6'], // 6to4
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['fec0::', 10, 'ipv6'], // site-local (deprecated)
  ['ff00::', 8, 'ipv6'], // multicast
]
for (const [network, prefix, family] of ranges) refused[family].addSubnet(network, prefix, family)

/** Whether `address` (an IP literal, brackets allowed) is a public unicast address. Anything else is false. */
export function isPublicAddress(address: string): boolean {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
  if (ip.includes('%')) return false // a scoped (link-local) address
  const family = isIP(ip)
  if (family === 0) return false
  return family === 4 ? !refused.ipv4.check(ip, 'ipv4') : !refused.ipv6.check(ip, 'ipv6')
}
