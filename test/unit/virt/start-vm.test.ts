import assert from 'node:assert/strict'
import { test } from 'node:test'
import { metaData } from '../../../ground/nocloud-seed.ts'
import { VirtError } from '../../../task-driver/virt/errors.ts'
import { domainName, forwardsFor } from '../../../task-driver/virt/start-vm.ts'

const LIBVIRT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const ALLOC = '6f1c2b3a-9d8e-4f7a-b6c5-0123456789ab'

test('domainName: lc-<alloc prefix>-<task>, a valid libvirt name of at most 63 characters', () => {
  assert.equal(domainName(ALLOC, 'web'), 'lc-6f1c2b3a-web')
  const names = [
    'web',
    'Web Server',
    'db.primary',
    'api/v2',
    'ünïcödé-task',
    '---',
    '',
    'x'.repeat(200),
    `${'y'.repeat(50)}.-.-`,
    'tab\tand\nnewline',
  ]
  for (const task of names) {
    const name = domainName(ALLOC, task)
    assert.ok(name.length <= 63, `${JSON.stringify(task)} → ${name}`)
    assert.match(name, LIBVIRT_NAME, `${JSON.stringify(task)} → ${name}`)
    assert.ok(name.startsWith('lc-6f1c2b3a'), name)
    assert.ok(!/[-.]$/.test(name), `ends in a separator: ${name}`)
  }
  assert.equal(domainName(ALLOC, 'web-server'), 'lc-6f1c2b3a-web-server', 'a name that fits is kept as it is')
  // Changed to fit: a hash of the original keeps `Web Server` and `web-server` apart.
  assert.match(domainName(ALLOC, 'Web Server'), /^lc-6f1c2b3a-web-server-[0-9a-f]{8}$/)
  assert.notEqual(domainName(ALLOC, 'Web Server'), domainName(ALLOC, 'web server'))
  assert.ok(domainName(ALLOC, 'x'.repeat(200)).length <= 63)
  assert.notEqual(domainName(ALLOC, 'x'.repeat(200)), domainName(ALLOC, 'x'.repeat(201)))
})

test('domainName is stable, and differs between tasks and allocations', () => {
  assert.equal(domainName(ALLOC, 'web'), domainName(ALLOC, 'web'))
  assert.equal(domainName(ALLOC, 'x'.repeat(200)), domainName(ALLOC, 'x'.repeat(200)))
  assert.notEqual(domainName(ALLOC, 'web'), domainName(ALLOC, 'db'))
  assert.notEqual(domainName(ALLOC, 'web'), domainName('0a1b2c3d-0000-4000-8000-000000000000', 'web'))
})

test('a domain name is also a valid NoCloud instance-id (the seed is written with it)', () => {
  // startVm passes the domain name as the seed's instance-id; Nomad task names may contain underscores.
  for (const task of ['web', 'db.primary', 'my_task', 'Web Server', 'worker_2'])
    assert.doesNotThrow(
      () => metaData({ instanceId: domainName(ALLOC, task), hostname: 'vm-0' }),
      `task ${JSON.stringify(task)} → ${domainName(ALLOC, task)}`,
    )
})

test("forwardsFor: Nomad's port mapping gives the host address and port, `to` is the guest port", () => {
  const task = {
    resources: {
      ports: [
        { label: 'http', value: 24001, to: 8080, host_ip: '10.0.0.5' },
        { label: 'ssh', value: 24002, to: 22, host_ip: '' },
        { label: 'metrics', value: 24003, to: 0, host_ip: '10.0.0.5' },
        { label: 'raw', value: 24004 },
      ],
      allocated_resources: {
        networks: [{ ip: '10.9.9.9', dynamic_ports: [{ label: 'http', value: 1 }] }],
      },
    },
  }
  assert.deepEqual(forwardsFor(task, ['http', 'ssh', 'metrics', 'raw']), [
    { hostAddress: '10.0.0.5', hostPort: 24001, guestPort: 8080 },
    { hostAddress: '127.0.0.1', hostPort: 24002, guestPort: 22 },
    // No `to`: the guest listens on the host's port number.
    { hostAddress: '10.0.0.5', hostPort: 24003, guestPort: 24003 },
    { hostAddress: '127.0.0.1', hostPort: 24004, guestPort: 24004 },
  ])
  // In the order the task config names them, only those.
  assert.deepEqual(
    forwardsFor(task, ['ssh', 'http']).map((f) => f.guestPort),
    [22, 8080],
  )
  assert.deepEqual(forwardsFor(task, []), [])
})

test('forwardsFor falls back to the allocated networks when there is no port mapping', () => {
  const task = {
    resources: {
      allocated_resources: {
        networks: [
          { ip: '', reserved_ports: [{ label: 'dns', value: 5353 }] },
          {
            ip: '10.0.0.6',
            reserved_ports: [{ label: 'ssh', value: 22022 }],
            dynamic_ports: [{ label: 'http', value: 25001 }],
          },
        ],
      },
    },
  }
  assert.deepEqual(forwardsFor(task, ['http', 'ssh', 'dns']), [
    { hostAddress: '10.0.0.6', hostPort: 25001, guestPort: 25001 },
    { hostAddress: '10.0.0.6', hostPort: 22022, guestPort: 22022 },
    { hostAddress: '127.0.0.1', hostPort: 5353, guestPort: 5353 },
  ])
  // Port mappings, where present, win over the networks.
  assert.deepEqual(
    forwardsFor(
      {
        resources: {
          ...task.resources,
          ports: [{ label: 'http', value: 25001, to: 80, host_ip: '10.0.0.6' }],
        },
      },
      ['http'],
    ),
    [{ hostAddress: '10.0.0.6', hostPort: 25001, guestPort: 80 }],
  )
})

test('forwardsFor: a label the group does not have is LEAN_ERR_VIRT_CONFIG naming it', () => {
  const tasks = [
    {},
    { resources: {} },
    { resources: { ports: [{ label: 'http', value: 1, to: 2 }] } },
    {
      resources: {
        allocated_resources: { networks: [{ ip: '10.0.0.1', dynamic_ports: [{ label: 'ssh', value: 3 }] }] },
      },
    },
  ]
  for (const task of tasks)
    assert.throws(
      () => forwardsFor(task, ['http', 'admin']),
      (e: unknown) =>
        e instanceof VirtError &&
        e.code === 'LEAN_ERR_VIRT_CONFIG' &&
        /^invalid task config: ports: /.test(e.message) &&
        /"admin"|"http"/.test(e.message),
    )
  assert.throws(
    () => forwardsFor(tasks[2]!, ['http', 'admin']),
    (e: unknown) => e instanceof VirtError && /"admin"/.test(e.message),
  )
})
