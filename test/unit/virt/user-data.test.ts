import { simpleParser } from 'mailparser'
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse } from 'yaml'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildUserData, driverCloudConfig, hostsCommand } from '../../../task-driver/virt/user-data.ts'

const BOUNDARY = 'lean-cloud-0123456789abcdef'
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0cFm4xq2tQ1R2a7y2nJm1bY5N2dR8d2s0fXw4QeEf alice@laptop'
const AUTHOR = '#cloud-config\npackages: [nginx]\nruncmd:\n  - systemctl enable --now nginx\n'

/** cloud-init reads YAML with PyYAML, i.e. YAML 1.1: `yes`, `on`, `0x1f` are not strings there. */
const yaml11 = (text: string): Record<string, unknown> => parse(text, { version: '1.1' })

test("only the author's user_data: it goes in unchanged", () => {
  const c = { userData: AUTHOR, sshAuthorizedKeys: [], cmds: [] }
  assert.equal(buildUserData(c, 'web-0', BOUNDARY), AUTHOR)
  const crlf = '#cloud-config\r\nruncmd: [date]'
  assert.equal(buildUserData({ ...c, userData: crlf }, 'web-0', BOUNDARY), crlf)
})

test('nothing given: a cloud-config with just the hostname', () => {
  const doc = buildUserData({ sshAuthorizedKeys: [], cmds: [] }, 'web-0', BOUNDARY)
  assert.equal(doc, '#cloud-config\nhostname: "web-0"\n')
  assert.deepEqual(yaml11(doc), { hostname: 'web-0' })
})

test('only keys and commands: one cloud-config with hostname, ssh_authorized_keys and runcmd, values JSON-quoted', () => {
  const doc = buildUserData({ sshAuthorizedKeys: [KEY], cmds: ['echo hi', 'date'] }, 'web-0', BOUNDARY)
  assert.equal(
    doc,
    [
      '#cloud-config',
      'hostname: "web-0"',
      'ssh_authorized_keys:',
      `  - ${JSON.stringify(KEY)}`,
      'runcmd:',
      '  - "echo hi"',
      '  - "date"',
      '',
    ].join('\n'),
  )
  assert.ok(!doc.includes('merge_how'))
  assert.ok(!doc.includes(BOUNDARY))
  // Only what was given: keys without commands, commands without keys.
  assert.deepEqual(yaml11(buildUserData({ sshAuthorizedKeys: [KEY], cmds: [] }, 'h', BOUNDARY)), {
    hostname: 'h',
    ssh_authorized_keys: [KEY],
  })
  assert.deepEqual(yaml11(buildUserData({ sshAuthorizedKeys: [], cmds: ['date'] }, 'h', BOUNDARY)), {
    hostname: 'h',
    runcmd: ['date'],
  })
})

test('commands with YAML and shell specials come back exactly as written', () => {
  const cmds = [
    'echo "quoted" \'single\' > /tmp/x',
    'key: value # not a comment',
    '- starts like a list',
    '{ "json": [1, 2] }',
    String.raw`printf '%s\n' a\tb C:\path`,
    '*anchor &ref !tag @at `tick` |pipe >fold %pct',
    'yes',
    '0x1f',
    'null',
    'échoué ✓',
    'tab\there',
  ]
  const keys = [KEY, 'ssh-rsa AAAAB3NzaC1yc2E= bob: the "admin" # laptop']
  const doc = buildUserData({ sshAuthorizedKeys: keys, cmds }, 'web-0', BOUNDARY)
  assert.deepEqual(yaml11(doc), { hostname: 'web-0', ssh_authorized_keys: keys, runcmd: cmds })
  assert.deepEqual(parse(doc), { hostname: 'web-0', ssh_authorized_keys: keys, runcmd: cmds })
})

test('the hostname stays a string in YAML, even one that looks like a number or a boolean', () => {
  // Every one of these passes the task config's hostname check.
  for (const hostname of ['123', '1.5', '0x1f', 'true', 'yes', 'on', 'no', 'null', 'web-0']) {
    const doc = driverCloudConfig({ sshAuthorizedKeys: [], cmds: [] }, hostname, false)
    assert.equal(yaml11(doc).hostname, hostname, `hostname ${hostname} in:\n${doc}`)
  }
})

test("both the author's user_data and keys/commands: a MIME multipart of two cloud-configs, the driver's appending", async () => {
  const c = { userData: AUTHOR, sshAuthorizedKeys: [KEY], cmds: ['echo driver'] }
  const doc = buildUserData(c, 'web-0', BOUNDARY)
  assert.ok(
    doc.startsWith(`Content-Type: multipart/mixed; boundary="${BOUNDARY}"\nMIME-Version: 1.0\n\n`),
    doc,
  )
  assert.ok(doc.endsWith(`--${BOUNDARY}--\n`), doc)

  // A real MIME parser sees exactly two text/cloud-config parts: the author's, unchanged, then the driver's.
  const mail = await simpleParser(doc)
  const parts = mail.attachments.map((a) => ({ type: a.contentType, body: a.content.toString('utf8') }))
  assert.deepEqual(parts, [
    { type: 'text/cloud-config', body: AUTHOR },
    { type: 'text/cloud-config', body: driverCloudConfig(c, 'web-0', true) },
  ])

  const driver = yaml11(parts[1]!.body)
  assert.deepEqual(driver, {
    hostname: 'web-0',
    ssh_authorized_keys: [KEY],
    runcmd: ['echo driver'],
    merge_how: [
      { name: 'list', settings: ['append'] },
      { name: 'dict', settings: ['no_replace', 'recurse_list'] },
    ],
  })
  assert.ok(parts[1]!.body.startsWith('#cloud-config\n'))
})

test("an author's user_data without a final newline still ends its part before the boundary", async () => {
  const userData = '#cloud-config\nruncmd: [date]'
  const doc = buildUserData({ userData, sshAuthorizedKeys: [], cmds: ['uptime'] }, 'web-0', BOUNDARY)
  const mail = await simpleParser(doc)
  const bodies = mail.attachments.map((a) => a.content.toString('utf8'))
  assert.equal(bodies.length, 2)
  assert.deepEqual(yaml11(bodies[0]!), { runcmd: ['date'] })
  assert.deepEqual(yaml11(bodies[1]!).runcmd, ['uptime'])
})

test('driverCloudConfig: merge_how only when merging', () => {
  const c = { sshAuthorizedKeys: [KEY], cmds: [] }
  assert.ok(!('merge_how' in yaml11(driverCloudConfig(c, 'h', false))))
  assert.ok('merge_how' in yaml11(driverCloudConfig(c, 'h', true)))
  assert.ok(driverCloudConfig(c, 'h', true).endsWith('\n'))
})

test("granted services: bootcmd adds each name to /etc/hosts once, before the author's commands, in either document", async () => {
  const hosts = [
    { address: '10.0.2.100', name: 'email.service.consul' },
    { address: '10.0.2.101', name: 'pdf.service.consul' },
  ]
  const alone = yaml11(buildUserData({ sshAuthorizedKeys: [], cmds: ['date'] }, 'h', BOUNDARY, hosts))
  assert.deepEqual(alone, { hostname: 'h', bootcmd: hosts.map(hostsCommand), runcmd: ['date'] })
  // With the author's user_data, the driver's part carries them (and appends to any bootcmd of the author's).
  const mail = await simpleParser(
    buildUserData({ userData: AUTHOR, sshAuthorizedKeys: [], cmds: [] }, 'h', BOUNDARY, hosts),
  )
  const bodies = mail.attachments.map((a) => a.content.toString('utf8'))
  assert.equal(bodies[0], AUTHOR)
  assert.deepEqual(yaml11(bodies[1]!).bootcmd, hosts.map(hostsCommand))

  // bootcmd runs at every boot: run each command twice in a real shell, against a copy of /etc/hosts.
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'hosts-')), 'hosts')
  writeFileSync(file, '127.0.0.1 localhost\n10.0.2.100 email.service.consul.evil\n')
  for (const h of [...hosts, ...hosts])
    execFileSync('sh', ['-c', hostsCommand(h).replaceAll('/etc/hosts', file)])
  assert.equal(
    readFileSync(file, 'utf8'),
    '127.0.0.1 localhost\n10.0.2.100 email.service.consul.evil\n10.0.2.100 email.service.consul\n10.0.2.101 pdf.service.consul\n',
  )
})
