import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  SpecError,
  META_OWNER,
  META_SPEC_HASH,
  OWNER,
  parseAppSpec,
  renderAppJob,
} from '../../../jobs/app-spec.ts'
import { nomadLiteral } from '../../../jobs/nomad-job.ts'
import {
  canonicalSize,
  DEFAULT_VM_CPU_MHZ,
  renderVmJob,
  VM_KILL_TIMEOUT,
  VM_MEMORY_OVERHEAD_MIB,
  vmReservation,
  type VmSpec,
} from '../../../jobs/vm.ts'
import { memoryHardLimitMiB } from '../../../task-driver/virt/confinement.ts'

const sha = 'ab'.repeat(32)
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4n1nRkGp6l0CwAD7eqv1uYy7q8m9bGq3o0ZxkR7Xwz ops@lean'
const userData =
  '#cloud-config\npackages: [nginx]\nruncmd:\n  - echo "${HOSTNAME}" > /var/www/html/index.html\n'
const doc = {
  kind: 'vm',
  image: { sha256: sha, source: `s3://artifacts/images/${sha}.json` },
  vcpus: 2,
  memory: '2GiB',
  disk: { size: '20GiB' },
  cloudInit: { hostname: 'web-1', userData, sshAuthorizedKeys: [key], commands: ['echo ${USER} > /tmp/who'] },
  ports: { ssh: 22, http: 8080 },
  service: { port: 'http', checkPath: '/health', checkIntervalSeconds: 5 },
  count: 2,
  datacenters: ['dc1'],
}
/** The spec a document naming only its image parses to: every default. */
const defaultVm = (name: string): VmSpec => ({
  name,
  image: { sha256: sha },
  vcpus: 1,
  memory: '256MiB',
  ports: {},
  state: 'running',
  count: 1,
})
const base = defaultVm('web')

function vmOf(name: string, d: unknown): VmSpec {
  const app = parseAppSpec(name, JSON.stringify(d))
  return app.kind === 'vm' ? app.vm : assert.fail('not a vm')
}

function problem(d: unknown): string {
  try {
    parseAppSpec('web', JSON.stringify(d))
  } catch (err) {
    assert.ok(err instanceof SpecError)
    return err.message
  }
  assert.fail('expected the document to be refused')
}

test('a vm document renders a virt task: image by digest, cloud-init, disk, ports, service, resources', () => {
  const job = renderVmJob(vmOf('web', doc))
  const group = job.TaskGroups[0]!
  const task = group.Tasks[0]!
  assert.equal(job.ID, 'web')
  assert.equal(group.Count, 2)
  assert.equal(task.Driver, 'virt')
  assert.equal(task.KillTimeout, 30e9)
  assert.equal(VM_KILL_TIMEOUT, 30e9)
  assert.deepEqual(task.Config, {
    image_sha256: sha,
    image: `s3://artifacts/images/${sha}.json`,
    vcpus: 2,
    memory: '2048MiB',
    hostname: 'web-1',
    user_data: userData.split('${HOSTNAME}').join('$${HOSTNAME}'),
    ssh_authorized_keys: [key],
    cmds: ['echo $${USER} > /tmp/who'],
    disk_size: '20GiB',
    ports: ['ssh', 'http'],
  })
  assert.deepEqual(task.Resources, { CPU: 50, MemoryMB: 2048 + 160 })
  assert.deepEqual(group.Networks, [
    {
      Mode: 'host',
      DynamicPorts: [
        { Label: 'ssh', To: 22 },
        { Label: 'http', To: 8080 },
      ],
    },
  ])
  assert.deepEqual(task.Services, [
    {
      Name: 'web',
      PortLabel: 'http',
      Provider: 'consul',
      Checks: [{ Name: 'web http', Type: 'http', Path: '/health', Interval: 5e9, Timeout: 2e9 }],
    },
  ])
})

test('defaults: one running VM, 1 vCPU, 256 MiB, 25 MHz, the image from its default source, no ports, no service', () => {
  const spec = vmOf('tiny', { kind: 'vm', image: { sha256: sha } })
  assert.deepEqual(spec, defaultVm('tiny'))
  const job = renderVmJob(spec)
  const task = job.TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(task.Config, { image_sha256: sha, vcpus: 1, memory: '256MiB', ports: [] })
  assert.deepEqual(task.Resources, { CPU: 25, MemoryMB: 256 + 160 })
  assert.deepEqual(task.Services, [])
  assert.deepEqual(job.TaskGroups[0]!.Networks, [{ Mode: 'host', DynamicPorts: [] }])
  assert.deepEqual(job.Datacenters, ['dc1'])
})

test('a service without checkPath is checked over TCP; the timeout is at most 2 s', () => {
  const task = renderVmJob({
    ...base,
    ports: { http: 8080 },
    service: { name: 'web', port: 'http', checkIntervalSeconds: 1 },
  }).TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(task.Services[0]!.Checks, [{ Name: 'web tcp', Type: 'tcp', Interval: 1e9, Timeout: 1e9 }])
  const named = vmOf('web', {
    kind: 'vm',
    image: { sha256: sha },
    ports: { http: 80 },
    service: { name: 'site', port: 'http' },
  })
  assert.deepEqual(renderVmJob(named).TaskGroups[0]!.Tasks[0]!.Services[0]!.Checks[0], {
    Name: 'site tcp',
    Type: 'tcp',
    Interval: 10e9,
    Timeout: 2e9,
  })
})

test('state stopped renders count 0 and keeps everything else', () => {
  const running = renderVmJob(vmOf('web', doc))
  const stopped = renderVmJob(vmOf('web', { ...doc, state: 'stopped' }))
  assert.equal(stopped.TaskGroups[0]!.Count, 0)
  assert.deepEqual(stopped.TaskGroups[0]!.Tasks, running.TaskGroups[0]!.Tasks)
  assert.equal(renderVmJob(vmOf('web', { ...doc, state: 'running' })).TaskGroups[0]!.Count, 2)
})

test('sizes: the disk in its largest exact unit, memory floored to whole MiB', () => {
  assert.equal(canonicalSize(10 * 1024 ** 3), '10GiB')
  assert.equal(canonicalSize(1536 * 1024 ** 2), '1536MiB')
  assert.equal(canonicalSize(10e9), '10000000000')
  const task = renderVmJob({ ...base, memory: '1GB', disk: { size: '10240MiB' } }).TaskGroups[0]!.Tasks[0]!
  assert.equal(task.Config.disk_size, '10GiB')
  assert.equal(task.Config.memory, '953MiB')
  assert.equal(task.Resources.MemoryMB, 953 + VM_MEMORY_OVERHEAD_MIB)
})

test("cpu: the document's MHz, else 25 per vCPU; memory: the guest + QEMU's overhead, the driver's cgroup limit under TCG", () => {
  assert.equal(DEFAULT_VM_CPU_MHZ, 25)
  assert.deepEqual(vmReservation({ vcpus: 4, memory: '1GiB' }), { cpu: 100, memoryMB: 1024 + 160 })
  const stated = renderVmJob(vmOf('web', { ...doc, cpu: 10 })).TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(stated.Resources, { CPU: 10, MemoryMB: 2048 + 160 })
  assert.equal(vmOf('web', { ...doc, cpu: 4000 }).cpu, 4000)
  // The reservation is what the virt driver lets the VM's cgroup take under TCG with its default cache.
  assert.equal(VM_MEMORY_OVERHEAD_MIB, memoryHardLimitMiB(0, 'qemu'))
  assert.ok(VM_MEMORY_OVERHEAD_MIB >= memoryHardLimitMiB(0, 'kvm'))
  // 50 tiny VMs fit a 2-core node of 4,890 MHz beside the ingress (200 MHz).
  const tiny = vmReservation({ vcpus: 1, memory: '128MiB' })
  assert.ok(50 * tiny.cpu + 200 <= 4890)
})

test('user data, commands and every other string reach the driver as text: HCL escapes', () => {
  assert.equal(nomadLiteral('a ${B} %{ if } $${C}'), 'a $${B} %%{ if } $$${C}')
  const config = renderVmJob({
    ...base,
    cloudInit: { userData: '#cloud-config\nruncmd: [[ls, "%{x}"]]', commands: ['echo %{y}'] },
  }).TaskGroups[0]!.Tasks[0]!.Config
  assert.equal(config.user_data, '#cloud-config\nruncmd: [[ls, "%%{x}"]]')
  assert.deepEqual(config.cmds, ['echo %%{y}'])
})

test('rendered vm jobs carry the owner mark and a spec hash that follows the document', () => {
  const a = renderAppJob(parseAppSpec('web', JSON.stringify(doc)))
  const b = renderAppJob(parseAppSpec('web', JSON.stringify({ ...doc, vcpus: 4 })))
  const c = renderAppJob(parseAppSpec('web', JSON.stringify({ ...doc, state: 'stopped' })))
  assert.equal(a.Meta[META_OWNER], OWNER)
  assert.match(a.Meta[META_SPEC_HASH]!, /^[0-9a-f]{64}$/)
  assert.notEqual(a.Meta[META_SPEC_HASH], b.Meta[META_SPEC_HASH])
  assert.notEqual(a.Meta[META_SPEC_HASH], c.Meta[META_SPEC_HASH])
  assert.equal(
    renderAppJob(parseAppSpec('web', JSON.stringify(doc))).Meta[META_SPEC_HASH],
    a.Meta[META_SPEC_HASH],
  )
})

test('every problem in a vm document names the field and the reason', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...doc, image: undefined }, /^image: required/],
    [{ ...doc, image: '/srv/images/base.qcow2' }, /^image: expected an object/],
    [{ ...doc, image: {} }, /^image\.sha256: required/],
    [{ ...doc, image: { sha256: 'AB'.repeat(32) } }, /^image\.sha256: expected 64 lower-case hexadecimal/],
    [
      { ...doc, image: { sha256: sha, source: 'https://x/y.json' } },
      /^image\.source: expected s3:\/\/<bucket>\/<key> or an absolute path/,
    ],
    [{ ...doc, image: { sha256: sha, source: `/srv/../images/${sha}.json` } }, /^image\.source: expected s3/],
    [
      { ...doc, image: { sha256: sha, source: `s3://artifacts/images/${'cd'.repeat(32)}.json` } },
      /^image\.source: expected the manifest named by image\.sha256/,
    ],
    [
      { ...doc, image: { sha256: sha, digest: sha } },
      /^image\.digest: unknown field \(allowed: sha256, source\)/,
    ],
    [{ ...doc, vcpus: 0 }, /^vcpus: expected a whole number from 1 to 64/],
    [{ ...doc, vcpus: 65 }, /^vcpus: expected a whole number from 1 to 64/],
    [{ ...doc, memory: 'lots' }, /^memory: expected a size such as "512KiB" or "64MiB", got "lots"/],
    [{ ...doc, memory: '32MiB' }, /^memory: expected from 64MiB to 1024GiB/],
    [{ ...doc, memory: '1025GiB' }, /^memory: expected from 64MiB to 1024GiB/],
    [{ ...doc, memory: 2048 }, /^memory: expected a string/],
    [{ ...doc, disk: { size: 'huge' } }, /^disk\.size: expected a size/],
    [{ ...doc, disk: {} }, /^disk\.size: required/],
    [{ ...doc, disk: { size: '10GiB', thinCopy: true } }, /^disk\.thinCopy: unknown field \(allowed: size\)/],
    [
      { ...doc, disks: { primarySize: '10GiB' } },
      /^disks: unknown field \(allowed: kind, image, vcpus, cpu, memory, disk, cloudInit, ports, service, state, count, datacenters, ingress, egress, spread, constraints\)/,
    ],
    [{ ...doc, network: { bridge: 'virbr0' } }, /^network: unknown field/],
    [
      { ...doc, cloudInit: { password: 'secret123' } },
      /^cloudInit\.password: unknown field \(allowed: hostname, userData, sshAuthorizedKeys, commands\)/,
    ],
    [{ ...doc, cloudInit: { sshAuthorizedKey: key } }, /^cloudInit\.sshAuthorizedKey: unknown field/],
    [{ ...doc, cloudInit: { hostname: '-web' } }, /^cloudInit\.hostname: expected a host name/],
    [{ ...doc, cloudInit: { hostname: 'a'.repeat(64) } }, /^cloudInit\.hostname: expected a host name/],
    [{ ...doc, cloudInit: { hostname: 'web_1' } }, /^cloudInit\.hostname: expected a host name/],
    [
      { ...doc, cloudInit: { userData: `#cloud-config\n${'a'.repeat(33 * 1024)}` } },
      /^cloudInit\.userData: \d+ bytes is over the limit of 32768/,
    ],
    [
      { ...doc, cloudInit: { userData: 'runcmd: [ls]\n' } },
      /^cloudInit\.userData: expected cloud-config text/,
    ],
    [{ ...doc, cloudInit: { userData: 42 } }, /^cloudInit\.userData: expected a string/],
    [{ ...doc, cloudInit: { sshAuthorizedKeys: key } }, /^cloudInit\.sshAuthorizedKeys: expected a list/],
    [
      { ...doc, cloudInit: { sshAuthorizedKeys: [key, `${key}\nssh-rsa AAAA`] } },
      /^cloudInit\.sshAuthorizedKeys\[1\]: contains the control character U\+000A at offset \d+/,
    ],
    [
      { ...doc, cloudInit: { userData: '#cloud-config\nx: "\u0000"\n' } },
      /^cloudInit\.userData: contains the control character U\+0000/,
    ],
    [
      { ...doc, service: { name: 'web', port: 'http', checkPath: '/${NOMAD_TOKEN}' } },
      /^service\.checkPath: expected a path starting with \//,
    ],
    [
      { ...doc, cloudInit: { commands: ['ok', ''] } },
      /^cloudInit\.commands\[1\]: expected a non-empty command on one line/,
    ],
    [
      { ...doc, cloudInit: { commands: ['a\nb'] } },
      /^cloudInit\.commands\[0\]: contains the control character U\+000A at offset 1/,
    ],
    [{ ...doc, cloudInit: { commands: [1] } }, /^cloudInit\.commands\[0\]: expected a string/],
    [{ ...doc, ports: { ssh: 0 } }, /^ports\.ssh: expected a whole number from 1 to 65535/],
    [{ ...doc, ports: { 'Bad-Label': 22 } }, /^ports\.Bad-Label: a port label is lower-case letters/],
    [
      { ...doc, service: { port: 'https' } },
      /^service\.port: expected one of the labels in ports \(ssh, http\)/,
    ],
    [{ ...doc, service: {} }, /^service\.port: required/],
    [
      { ...doc, service: { port: 'http', checkPath: 'health' } },
      /^service\.checkPath: expected a path starting with \//,
    ],
    [
      { ...doc, service: { port: 'http', checkIntervalSeconds: 0 } },
      /^service\.checkIntervalSeconds: expected a whole number from 1 to 3600/,
    ],
    [{ ...doc, state: 'paused' }, /^state: expected "running" or "stopped", got "paused"/],
    [{ ...doc, count: 101 }, /^count: expected a whole number from 0 to 100/],
    [{ ...doc, cpu: 5 }, /^cpu: expected a whole number from 10 to 256000/],
    [{ ...doc, cpu: '100' }, /^cpu: expected a whole number from 10 to 256000/],
    [{ ...doc, cpu: 256_001 }, /^cpu: expected a whole number from 10 to 256000/],
    [{ ...doc, datacenters: [] }, /^datacenters: expected at least one datacenter/],
    [{ ...doc, datacenters: ['dc 1'] }, /^datacenters\[0\]: expected a datacenter name/],
    [{ kind: 'container' }, /^kind: expected "wasm-service", got "container" \(the other kind is "vm"\)/],
  ]
  for (const [d, expected] of cases) assert.match(problem(d), expected)
})

test('the renderer checks a typed spec itself and names the field', () => {
  const cases: Array<[Partial<VmSpec>, string]> = [
    [{ name: 'Web' }, 'name'],
    [{ image: { sha256: 'nope' } }, 'image.sha256'],
    [{ vcpus: 1.5 }, 'vcpus'],
    [{ cpu: 9 }, 'cpu'],
    [{ cpu: 25.5 }, 'cpu'],
    [{ memory: '0MiB' }, 'memory'],
    [{ disk: { size: '512KiB' } }, 'disk.size'],
    [{ ports: { ssh: 70000 } }, 'ports.ssh'],
    [{ state: 'paused' as 'running' }, 'state'],
    [{ count: -1 }, 'count'],
  ]
  for (const [patch, field] of cases) {
    assert.throws(
      () => renderVmJob({ ...base, ...patch }),
      (err: unknown) =>
        err instanceof SpecError && err.field === field && err.code === 'LEAN_ERR_SPEC_INVALID',
    )
  }
})

test('egress: the granted Consul services reach the driver as a list; none: no attribute', () => {
  const task = renderVmJob(vmOf('web', { ...doc, egress: ['email', 'pdf'] })).TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(task.Config.egress, ['email', 'pdf'])
  assert.ok(!('egress' in renderVmJob(vmOf('web', doc)).TaskGroups[0]!.Tasks[0]!.Config))
  assert.ok(!('egress' in renderVmJob(vmOf('web', { ...doc, egress: [] })).TaskGroups[0]!.Tasks[0]!.Config))
})

test("egress: service names, each once, at most 8, never the cloud's own; refused naming egress[i]", () => {
  const cases: Array<[unknown, RegExp]> = [
    ['email', /^egress: expected a list of at most 64 strings/],
    [['email', 'Email'], /^egress\[1\]: expected a Consul service name/],
    [['email', 'x.service.consul'], /^egress\[1\]: expected a Consul service name/],
    [['10.0.2.2'], /^egress\[0\]: expected a Consul service name/],
    [[7], /^egress\[0\]: /],
    [['consul'], /^egress\[0\]: "consul" is reserved for the cloud's own services/],
    [['email', 'nomad'], /^egress\[1\]: "nomad" is reserved/],
    [['email', 'email'], /^egress\[1\]: "email" is granted twice/],
    [Array.from({ length: 9 }, (_, i) => `s${i}`), /^egress: at most 8 services/],
  ]
  for (const [egress, expected] of cases) assert.match(problem({ ...doc, egress }), expected)
  // The renderer checks a typed spec the same way.
  assert.throws(
    () => renderVmJob({ ...base, egress: ['lean-ingress'] }),
    (err: unknown) => err instanceof SpecError && err.field === 'egress[0]',
  )
})

test('rendering is deterministic', () => {
  const spec = vmOf('web', doc)
  assert.equal(JSON.stringify(renderVmJob(spec)), JSON.stringify(renderVmJob({ ...spec })))
})
