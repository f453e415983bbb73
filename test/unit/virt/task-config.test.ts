import assert from 'node:assert/strict'
import { test } from 'node:test'
import { VirtError } from '../../../task-driver/virt/errors.ts'
import {
  defaultImageSource,
  parseVirtTaskConfig,
  virtTaskConfigSpec,
} from '../../../task-driver/virt/task-config.ts'

const SHA = 'ab'.repeat(32)
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0cFm4xq2tQ1R2a7y2nJm1bY5N2dR8d2s0fXw4QeEf alice@laptop'

/** Asserts a LEAN_ERR_VIRT_CONFIG whose message names `field` (as "invalid task config: <field>: …"). */
function configError(raw: Record<string, unknown>, field: string, reason?: RegExp): void {
  assert.throws(
    () => parseVirtTaskConfig(raw),
    (err: unknown) => {
      assert.ok(err instanceof VirtError, `expected a VirtError, got ${String(err)}`)
      assert.equal(err.code, 'LEAN_ERR_VIRT_CONFIG')
      assert.ok(
        err.message.startsWith(`invalid task config: ${field}: `),
        `expected the message to name ${field}: ${err.message}`,
      )
      if (reason) assert.match(err.message, reason)
      return true
    },
  )
}

test('only image_sha256 given: the image comes from the artifacts bucket by digest, boot timeout 5 min', () => {
  const c = parseVirtTaskConfig({ image_sha256: SHA })
  assert.deepEqual(c, {
    imageSha256: SHA,
    image: `s3://artifacts/images/${SHA}.json`,
    sshAuthorizedKeys: [],
    cmds: [],
    ports: [],
    bootTimeoutMs: 5 * 60 * 1000,
    egress: [],
  })
  assert.equal(defaultImageSource(SHA), c.image)
  // Optional fields are absent, not present as undefined.
  for (const k of ['vcpus', 'memoryMiB', 'hostname', 'userData', 'diskSizeBytes', 'readyLine'])
    assert.ok(!(k in c), k)
})

test('null attributes (cty nulls from Nomad) mean "not set"', () => {
  const c = parseVirtTaskConfig({
    image_sha256: SHA,
    image: null,
    vcpus: null,
    memory: null,
    hostname: null,
    user_data: null,
    ssh_authorized_keys: null,
    cmds: null,
    disk_size: null,
    ports: null,
    ready_line: null,
    boot_timeout: null,
    egress: null,
  })
  assert.deepEqual(c, parseVirtTaskConfig({ image_sha256: SHA }))
})

test('every attribute given: the parsed shape', () => {
  const userData = '#cloud-config\npackages: [nginx]\n'
  const c = parseVirtTaskConfig({
    image_sha256: SHA,
    image: '/srv/images/tiny.json',
    vcpus: 2,
    hostname: 'web-1.example.internal',
    user_data: userData,
    ssh_authorized_keys: [KEY, 'ecdsa-sha2-nistp256 AAAAE2VjZHNh'],
    cmds: ['echo hello > /tmp/hi', 'systemctl restart nginx'],
    disk_size: '10GiB',
    ports: ['http', 'ssh'],
    ready_line: 'READY',
    boot_timeout: '90s',
    egress: ['email', 'pdf-render'],
  })
  assert.deepEqual(c, {
    imageSha256: SHA,
    image: '/srv/images/tiny.json',
    vcpus: 2,
    hostname: 'web-1.example.internal',
    userData,
    sshAuthorizedKeys: [KEY, 'ecdsa-sha2-nistp256 AAAAE2VjZHNh'],
    cmds: ['echo hello > /tmp/hi', 'systemctl restart nginx'],
    diskSizeBytes: 10 * 1024 ** 3,
    ports: ['http', 'ssh'],
    readyLine: 'READY',
    bootTimeoutMs: 90_000,
    egress: ['email', 'pdf-render'],
  })
  // An s3:// manifest elsewhere, and '' as the ready line ("do not wait"), are kept.
  const s3 = parseVirtTaskConfig({ image_sha256: SHA, image: 's3://other/imgs/x.json', ready_line: '' })
  assert.equal(s3.image, 's3://other/imgs/x.json')
  assert.equal(s3.readyLine, '')
})

test('the hclspec lists exactly the attributes the parser knows, image_sha256 required', () => {
  const attrs = (
    virtTaskConfigSpec as { object: { attributes: Record<string, { Attr: { required: boolean } }> } }
  ).object.attributes
  assert.deepEqual(Object.keys(attrs).sort(), [
    'boot_timeout',
    'cmds',
    'disk_size',
    'egress',
    'hostname',
    'image',
    'image_sha256',
    'memory',
    'ports',
    'ready_line',
    'ssh_authorized_keys',
    'user_data',
    'vcpus',
  ])
  assert.equal(attrs.image_sha256?.Attr.required, true)
  assert.equal(attrs.image?.Attr.required, false)
})

test('image_sha256: required, 64 lower-case hex characters', () => {
  configError({}, 'image_sha256', /is required/)
  configError({ image_sha256: 42 }, 'image_sha256', /expected a string/)
  configError({ image_sha256: 'not-a-digest' }, 'image_sha256', /64 lower-case hexadecimal/)
  configError({ image_sha256: SHA.slice(1) }, 'image_sha256')
  configError({ image_sha256: SHA.toUpperCase() }, 'image_sha256')
  configError({ image_sha256: `${'g'.repeat(64)}` }, 'image_sha256')
})

test('image: s3://bucket/key or an absolute path without .. segments', () => {
  configError({ image_sha256: SHA, image: 'images/tiny.json' }, 'image', /"images\/tiny\.json"/)
  configError({ image_sha256: SHA, image: './tiny.json' }, 'image')
  configError({ image_sha256: SHA, image: 's3://bucket-only' }, 'image')
  configError({ image_sha256: SHA, image: 'https://example.com/x.json' }, 'image')
  configError({ image_sha256: SHA, image: '/srv/images/../../etc/passwd' }, 'image', /\.\. segments/)
  configError({ image_sha256: SHA, image: '/srv/images/..' }, 'image', /\.\. segments/)
  // Dots inside a name are not a .. segment.
  assert.equal(
    parseVirtTaskConfig({ image_sha256: SHA, image: '/srv/images/a..b.json' }).image,
    '/srv/images/a..b.json',
  )
})

test('vcpus: a whole number from 1 to 64', () => {
  for (const v of [1, 64]) assert.equal(parseVirtTaskConfig({ image_sha256: SHA, vcpus: v }).vcpus, v)
  for (const v of [0, 65, -1, 1.5, '2', Number.NaN])
    configError({ image_sha256: SHA, vcpus: v }, 'vcpus', /from 1 to 64/)
})

test('memory: guest memory, a size from 16MiB to 1024GiB, floored to whole MiB', () => {
  for (const [m, mib] of [
    ['128MiB', 128],
    ['2GiB', 2048],
    ['1GB', 953],
    ['16MiB', 16],
  ] as const)
    assert.equal(parseVirtTaskConfig({ image_sha256: SHA, memory: m }).memoryMiB, mib)
  for (const m of ['8MiB', '2048GiB', 'lots', 128]) configError({ image_sha256: SHA, memory: m }, 'memory')
})

test('hostname: dot-separated labels of letters, digits and dashes, at most 63 characters', () => {
  for (const h of ['web', 'web-1', 'Web1.example.internal', 'a'.repeat(63)])
    assert.equal(parseVirtTaskConfig({ image_sha256: SHA, hostname: h }).hostname, h)
  for (const h of ['', '-web', 'web-', 'web_1', 'web 1', 'a..b', 'web.', 'a'.repeat(64), 'wéb', 'web\n'])
    configError({ image_sha256: SHA, hostname: h }, 'hostname')
})

test('user_data: cloud-config text, "#cloud-config" on its first line, at most 64 KiB', () => {
  for (const u of ['#cloud-config\n', '#cloud-config\r\nruncmd: []\n', '#cloud-config  \npackages: []\n'])
    assert.equal(parseVirtTaskConfig({ image_sha256: SHA, user_data: u }).userData, u)
  for (const u of [
    '#!/bin/sh\necho hi\n',
    'packages: [nginx]\n',
    '\n#cloud-config\n',
    ' #cloud-config\n',
    '#cloud-configx\n',
  ])
    configError({ image_sha256: SHA, user_data: u }, 'user_data', /#cloud-config/)
  configError(
    { image_sha256: SHA, user_data: `#cloud-config\n# ${'x'.repeat(64 * 1024)}\n` },
    'user_data',
    /longer than 65536 bytes/,
  )
})

test('ssh_authorized_keys: one OpenSSH public key per entry, named by its index', () => {
  const ok = [
    KEY,
    'ssh-rsa AAAAB3NzaC1yc2E=',
    'ecdsa-sha2-nistp384 AAAAE2VjZHNh',
    'sk-ssh-ed25519@openssh.com AAAAGnNr',
  ]
  assert.deepEqual(parseVirtTaskConfig({ image_sha256: SHA, ssh_authorized_keys: ok }).sshAuthorizedKeys, ok)
  configError({ image_sha256: SHA, ssh_authorized_keys: [KEY, 'not a key'] }, 'ssh_authorized_keys[1]')
  configError({ image_sha256: SHA, ssh_authorized_keys: ['AAAAC3NzaC1lZDI1NTE5'] }, 'ssh_authorized_keys[0]')
  configError({ image_sha256: SHA, ssh_authorized_keys: [`${KEY}\n${KEY}`] }, 'ssh_authorized_keys[0]')
  configError({ image_sha256: SHA, ssh_authorized_keys: ['ssh-ed25519 AAAA$$'] }, 'ssh_authorized_keys[0]')
  configError({ image_sha256: SHA, ssh_authorized_keys: KEY }, 'ssh_authorized_keys', /list of strings/)
  configError({ image_sha256: SHA, ssh_authorized_keys: [KEY, 7] }, 'ssh_authorized_keys', /list of strings/)
})

test('cmds: non-empty commands on one line each, named by index', () => {
  configError({ image_sha256: SHA, cmds: ['echo a', 'echo b\nrm -rf /'] }, 'cmds[1]', /one line/)
  configError({ image_sha256: SHA, cmds: ['echo a\r'] }, 'cmds[0]')
  configError({ image_sha256: SHA, cmds: ['   '] }, 'cmds[0]', /non-empty/)
  configError({ image_sha256: SHA, cmds: 'echo a' }, 'cmds', /list of strings/)
})

test('disk_size: a size from 1MiB to 64TiB', () => {
  assert.equal(parseVirtTaskConfig({ image_sha256: SHA, disk_size: '1MiB' }).diskSizeBytes, 1024 ** 2)
  assert.equal(parseVirtTaskConfig({ image_sha256: SHA, disk_size: '512MB' }).diskSizeBytes, 512 * 1000 ** 2)
  configError({ image_sha256: SHA, disk_size: 'lots' }, 'disk_size', /expected a size/)
  configError({ image_sha256: SHA, disk_size: '10 bananas' }, 'disk_size', /expected a size/)
  configError({ image_sha256: SHA, disk_size: '0GiB' }, 'disk_size')
  configError({ image_sha256: SHA, disk_size: '512KiB' }, 'disk_size', /from 1MiB to 64TiB/)
  configError({ image_sha256: SHA, disk_size: '65537GiB' }, 'disk_size', /from 1MiB to 64TiB/)
  configError({ image_sha256: SHA, disk_size: 10 }, 'disk_size', /expected a string/)
  // The upper bound is stated in TiB, so a size in TiB is understood.
  assert.equal(parseVirtTaskConfig({ image_sha256: SHA, disk_size: '2TiB' }).diskSizeBytes, 2 * 1024 ** 4)
  // The reason is not prefixed twice.
  assert.throws(
    () => parseVirtTaskConfig({ image_sha256: SHA, disk_size: 'lots' }),
    (e: unknown) => e instanceof VirtError && (e.message.match(/invalid task config/g) ?? []).length === 1,
  )
})

test('ports: labels, each at most once', () => {
  configError({ image_sha256: SHA, ports: ['http', 'ssh', 'http'] }, 'ports', /names a port twice/)
  configError({ image_sha256: SHA, ports: ['http', 'no spaces'] }, 'ports[1]', /"no spaces"/)
  configError({ image_sha256: SHA, ports: [''] }, 'ports[0]')
})

test('ready_line and boot_timeout', () => {
  configError({ image_sha256: SHA, ready_line: 'READY\nNOT' }, 'ready_line', /one line/)
  configError({ image_sha256: SHA, boot_timeout: 'soon' }, 'boot_timeout', /duration/)
  configError({ image_sha256: SHA, boot_timeout: '0s' }, 'boot_timeout')
  assert.equal(parseVirtTaskConfig({ image_sha256: SHA, boot_timeout: '2m' }).bootTimeoutMs, 120_000)
  assert.equal(parseVirtTaskConfig({ image_sha256: SHA, boot_timeout: '500ms' }).bootTimeoutMs, 500)
})

test('an unknown option is refused by name, before anything else is checked', () => {
  configError({ image_sha256: SHA, memory_mb: 512 }, 'memory_mb', /unknown option \(known: image_sha256, /)
  configError({ imageSha256: SHA }, 'imageSha256', /unknown option/)
})

test('egress: at most 8 Consul service names, each once, named by index', () => {
  const c = (egress: unknown) => ({ image_sha256: SHA, egress })
  assert.deepEqual(parseVirtTaskConfig(c(['a', 'pdf-2'])).egress, ['a', 'pdf-2'])
  configError(c('email'), 'egress', /list of strings/)
  configError(c(['email', 'Email']), 'egress[1]', /not a Consul service name/)
  configError(c(['email', '10.0.2.2']), 'egress[1]')
  configError(c(['x.service.consul']), 'egress[0]')
  configError(c(['email', 'email']), 'egress[1]', /granted twice/)
  configError(c(Array.from({ length: 9 }, (_, i) => `s${i}`)), 'egress', /at most 8/)
})
