import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isPublicAddress } from '../../../task-driver/wasm/public-address.ts'

test('public unicast addresses may be fetched from', () => {
  for (const ip of [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '2606:4700:4700::1111',
    '2a00:1450:4001:82b::200e',
  ]) {
    assert.equal(isPublicAddress(ip), true, ip)
  }
})

test('loopback, private, link-local, unspecified and other non-public addresses never are', () => {
  for (const ip of [
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254', // cloud metadata
    '100.64.0.1',
    '192.0.2.1',
    '198.18.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '2001:db8::1',
  ]) {
    assert.equal(isPublicAddress(ip), false, ip)
  }
})

test('IPv6 forms that embed an IPv4 address are refused, even of a public one', () => {
  for (const ip of [
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '[::ffff:127.0.0.1]',
    '::ffff:10.0.0.1',
    '::ffff:8.8.8.8',
    '::127.0.0.1', // IPv4-compatible
    '64:ff9b::7f00:1', // NAT64
    '2002:7f00:1::1', // 6to4
    '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo
  ]) {
    assert.equal(isPublicAddress(ip), false, ip)
  }
})

test('what is not an IP address is not a public address', () => {
  for (const s of ['', 'localhost', 'example.com', '127.1', '999.1.1.1'])
    assert.equal(isPublicAddress(s), false, s)
})
