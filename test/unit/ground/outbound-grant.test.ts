import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatOutboundGrant, isConsulService, parseOutboundGrant } from '../../../ground/outbound-grant.ts'
import { UnitError } from '../../../ground/units.ts'

test('a grant is a scheme, a host and an optional port, normalised', () => {
  assert.deepEqual(parseOutboundGrant('http://email.service.consul'), { scheme: 'http', host: 'email.service.consul' })
  assert.deepEqual(parseOutboundGrant('https://API.Example.com:8443/'), { scheme: 'https', host: 'api.example.com', port: 8443 })
  assert.deepEqual(parseOutboundGrant('http://example.com.'), { scheme: 'http', host: 'example.com' })
  assert.deepEqual(parseOutboundGrant('http://10.1.2.3:9000'), { scheme: 'http', host: '10.1.2.3', port: 9000 })
  assert.deepEqual(parseOutboundGrant('https://[2001:db8::1]:443'), { scheme: 'https', host: '2001:db8::1', port: 443 })
  assert.equal(formatOutboundGrant(parseOutboundGrant('https://[2001:DB8::1]')), 'https://[2001:db8::1]')
  assert.equal(isConsulService('email.service.consul'), true)
  assert.equal(isConsulService('email.service.consul.example.com'), false)
})

test('the node itself, link-local addresses and anything beyond scheme, host and port are refused with the reason', () => {
  const refused: Array<[string, RegExp]> = [
    ['http://localhost', /node itself or a link-local/],
    ['http://app.localhost:8080', /node itself or a link-local/],
    ['http://127.0.0.1:8500', /node itself or a link-local/],
    ['http://127.1.2.3', /node itself or a link-local/],
    ['http://0.0.0.0', /node itself or a link-local/],
    ['http://169.254.169.254', /node itself or a link-local/],
    ['http://[::1]', /node itself or a link-local/],
    ['http://[fe80::1]', /node itself or a link-local/],
    ['http://[::ffff:127.0.0.1]', /node itself or a link-local/],
    ['http://email.service.consul:8080', /port comes from its SRV record/],
    ['http://consul.consul', /granted as "<service>\.service\.consul"/],
    ['ftp://example.com', /expected "http:\/\/host"/],
    ['http://example.com/path', /no path, query or user/],
    ['http://example.com?x=1', /no path, query or user/],
    ['http://user@example.com', /no path, query or user/],
    ['http://exa_mple.com', /is not a host name or an IP address/],
    ['http://example.com:0', /port 0 is not between 1 and 65535/],
    ['http://example.com:70000', /not between 1 and 65535/],
    ['example.com', /expected "http:\/\/host"/],
  ]
  for (const [raw, reason] of refused) {
    assert.throws(() => parseOutboundGrant(raw), (err: unknown) => err instanceof UnitError && reason.test(err.reason), raw)
  }
})
