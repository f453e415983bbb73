import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { VirtError } from '../../../task-driver/virt/errors.ts'
import { parseDomstats, virsh, virshArgs, virshFailure } from '../../../task-driver/virt/virsh.ts'

const cmd = ['virsh', '-q', '-c', 'qemu:///system?socket=/d/libvirt-sock', 'destroy', 'vm1']

test('virsh arguments: quiet, the URI, then the command', () => {
  assert.deepEqual(virshArgs('qemu:///session', ['list', '--all']), [
    '-q',
    '-c',
    'qemu:///session',
    'list',
    '--all',
  ])
  assert.throws(
    () => virshArgs('', ['list']),
    (e: unknown) => e instanceof VirtError && e.code === 'LEAN_ERR_VIRT_SPEC',
  )
})

test('failures map to stable codes, naming the command and what virsh said', () => {
  const cases: Array<[string, string]> = [
    ["error: failed to get domain 'vm1'", 'LEAN_ERR_VIRT_NO_DOMAIN'],
    ['error: Domain not found: no domain with matching name', 'LEAN_ERR_VIRT_NO_DOMAIN'],
    [
      "error: Failed to connect socket to '/d/libvirt-sock': No such file or directory\nerror: failed to connect to the hypervisor",
      'LEAN_ERR_VIRT_CONNECT',
    ],
    ["error: operation failed: domain 'vm1' already exists with uuid 1234", 'LEAN_ERR_VIRT_DOMAIN_EXISTS'],
    [
      "error: internal error: qemu unexpectedly closed the monitor: Could not set up host forwarding rule 'tcp:127.0.0.1:80-:8080'",
      'LEAN_ERR_VIRT_PORT_IN_USE',
    ],
    ['error: something else entirely', 'LEAN_ERR_VIRT_COMMAND'],
  ]
  for (const [stderr, code] of cases) {
    const err = virshFailure(cmd, { code: 1, stderr: `${stderr}\n` }, 1000)
    assert.equal(err.code, code, stderr)
    assert.ok(err.message.includes('destroy vm1'), err.message)
    assert.ok(err.message.includes(stderr.split('\n')[0]!), err.message)
    assert.equal(err.stderr, stderr)
    assert.deepEqual(err.command, cmd)
  }
  assert.match(
    virshFailure(cmd, { code: 1, stderr: 'failed to connect to the hypervisor' }, 1).message,
    /libvirt daemon running/,
  )
  assert.match(virshFailure(cmd, { code: 1, stderr: '' }, 1).message, /no output on stderr/)
})

test('a timeout and a missing virsh have their own codes', () => {
  const t = virshFailure(cmd, { code: null, killed: true, signal: 'SIGTERM', stderr: '' }, 1500)
  assert.equal(t.code, 'LEAN_ERR_VIRT_TIMEOUT')
  assert.match(t.message, /within 1500 ms/)
  const n = virshFailure(cmd, { code: 'ENOENT', stderr: '' }, 1)
  assert.equal(n.code, 'LEAN_ERR_VIRT_NOT_INSTALLED')
  assert.match(n.message, /libvirt-clients/)
})

test('running a virsh that does not exist rejects with LEAN_ERR_VIRT_NOT_INSTALLED', async () => {
  await assert.rejects(
    virsh('qemu:///x', ['list'], { virsh: '/nonexistent/virsh' }),
    (e: unknown) => e instanceof VirtError && e.code === 'LEAN_ERR_VIRT_NOT_INSTALLED',
  )
})

test('a program that fails is reported with its stderr; one that hangs times out', async () => {
  // `sh` stands in for virsh: `sh -q` is refused with a message on stderr.
  await assert.rejects(
    virsh('qemu:///x', ['list'], { virsh: 'sh' }),
    (e: unknown) => e instanceof VirtError && e.code === 'LEAN_ERR_VIRT_COMMAND' && e.stderr.length > 0,
  )
  const dir = await mkdtemp(path.join(os.tmpdir(), 'virt-virsh-'))
  try {
    const hang = path.join(dir, 'virsh')
    await writeFile(hang, '#!/bin/sh\nexec sleep 10\n')
    await chmod(hang, 0o755)
    await assert.rejects(
      virsh('qemu:///x', ['list'], { virsh: hang, timeoutMs: 100 }),
      (e: unknown) => e instanceof VirtError && e.code === 'LEAN_ERR_VIRT_TIMEOUT',
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('domstats output is parsed per domain', () => {
  const text = "Domain: 'a'\n  cpu.time=4250000000\n  balloon.rss=212992\n\nDomain: 'b.x'\n  cpu.time=1\n"
  const stats = parseDomstats(text)
  assert.deepEqual(stats.get('a'), { 'cpu.time': '4250000000', 'balloon.rss': '212992' })
  assert.deepEqual(stats.get('b.x'), { 'cpu.time': '1' })
})
