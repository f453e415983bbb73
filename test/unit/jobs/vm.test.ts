import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AppSpecError, META_OWNER, META_SPEC_HASH, OWNER, parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'
import { JobSpecError } from '../../../jobs/errors.ts'
import { artifactDest, hclLiteral, renderVmJob, type VmSpec } from '../../../jobs/vm.ts'

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4n1nRkGp6l0CwAD7eqv1uYy7q8m9bGq3o0ZxkR7Xwz ops@lean'
const userData = '#cloud-config\npackages: [nginx]\nruncmd:\n  - echo "${HOSTNAME}" > /var/www/html/index.html\n'
const doc = {
  kind: 'vm',
  image: '/var/lib/virt/images/debian-12.qcow2',
  vcpus: 2,
  memory: '2GiB',
  disks: { primarySize: '20GiB', thinCopy: true },
  cloudInit: { userData, sshAuthorizedKey: key },
  network: { bridge: 'virbr0', ports: { ssh: 22, http: 80 } },
  count: 2,
  datacenters: ['dc1'],
  service: { port: 'http' },
}
const base: VmSpec = { name: 'web', image: '/srv/images/base.qcow2', vcpus: 1, memory: '1GiB', network: { bridge: 'virbr0', ports: {} }, count: 1 }

function vmOf(name: string, d: unknown): VmSpec {
  const app = parseAppSpec(name, JSON.stringify(d))
  assert.equal(app.kind, 'vm')
  return app.kind === 'vm' ? app.vm : assert.fail('not a vm')
}

function problem(d: unknown): string {
  try {
    parseAppSpec('web', JSON.stringify(d))
  } catch (err) {
    assert.ok(err instanceof AppSpecError)
    return err.message
  }
  assert.fail('expected the document to be refused')
}

test('a vm document renders a virt task: disk, network, cloud-init, cores and memory', () => {
  const job = renderVmJob(vmOf('web', doc))
  const group = job.TaskGroups[0]!
  const task = group.Tasks[0]!
  assert.equal(job.ID, 'web')
  assert.equal(group.Count, 2)
  assert.equal(task.Driver, 'virt')
  assert.deepEqual(task.Config, {
    disk: [{ primary: true, size: '20480MiB', chained: true, source: [{ image: '/var/lib/virt/images/debian-12.qcow2' }] }],
    network_interface: [{ bridge: [{ name: 'virbr0', ports: ['ssh', 'http'] }] }],
    user_data: userData.split('${HOSTNAME}').join('$${HOSTNAME}'),
    default_user_authorized_ssh_key: key,
  })
  assert.deepEqual(task.Resources, { Cores: 2, MemoryMB: 2048 })
  assert.deepEqual(task.Artifacts, [])
  assert.deepEqual(group.Networks, [{ Mode: 'host', DynamicPorts: [{ Label: 'ssh', To: 22 }, { Label: 'http', To: 80 }] }])
  assert.deepEqual(task.Services, [
    { Name: 'web', PortLabel: 'http', Provider: 'consul', Checks: [{ Name: 'web tcp', Type: 'tcp', Interval: 10e9, Timeout: 2e9, AddressMode: 'driver' }] },
  ])
})

test('defaults: one VM, 1 vCPU, 1 GiB, virbr0 without ports, no service, no cloud-init', () => {
  const spec = vmOf('tiny', { kind: 'vm', image: '/srv/images/base.qcow2' })
  assert.deepEqual(spec, { name: 'tiny', image: '/srv/images/base.qcow2', vcpus: 1, memory: '1GiB', network: { bridge: 'virbr0', ports: {} }, count: 1 })
  const job = renderVmJob(spec)
  const task = job.TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(task.Config, { disk: [{ primary: true, source: [{ image: '/srv/images/base.qcow2' }] }], network_interface: [{ bridge: [{ name: 'virbr0', ports: [] }] }] })
  assert.deepEqual(task.Resources, { Cores: 1, MemoryMB: 1024 })
  assert.deepEqual(task.Services, [])
  assert.deepEqual(job.Datacenters, ['dc1'])
})

test('an http(s) image is fetched as an artifact into the task dir and the disk names it relatively', () => {
  const url = 'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2'
  const task = renderVmJob({ ...base, image: url }).TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(task.Artifacts, [{ GetterSource: url, RelativeDest: 'local/debian-12-generic-amd64.qcow2', GetterMode: 'file' }])
  assert.deepEqual((task.Config.disk as Array<{ source: unknown }>)[0]!.source, [{ image: 'local/debian-12-generic-amd64.qcow2' }])
  assert.equal(artifactDest('http://images.example/'), 'local/image')
  assert.equal(artifactDest('http://images.example/a%20b?x=1'), 'local/a-20b')
})

test('user data always reaches the driver as text: HCL escapes and a trailing newline', () => {
  assert.equal(hclLiteral('a ${B} %{ if } $${C}'), 'a $${B} %%{ if } $$${C}')
  const config = renderVmJob({ ...base, cloudInit: { userData: '#cloud-config\nruncmd: [[ls, /tmp]]' } }).TaskGroups[0]!.Tasks[0]!.Config
  // Without the newline the driver would take "tmp]]" for a file name and try to open the whole text as a path.
  assert.equal(config.user_data, '#cloud-config\nruncmd: [[ls, /tmp]]\n')
})

test('a primary disk size that is not whole MiB is given in bytes; memory is floored to MiB', () => {
  const job = renderVmJob({ ...base, memory: '2GB', disks: { primarySize: '10GB' } })
  const task = job.TaskGroups[0]!.Tasks[0]!
  assert.equal((task.Config.disk as Array<{ size: string }>)[0]!.size, '10000000000')
  assert.equal(task.Resources.MemoryMB, 1907)
})

test('rendered vm jobs carry the owner mark and a spec hash that follows the document', () => {
  const a = renderAppJob(parseAppSpec('web', JSON.stringify(doc)))
  const b = renderAppJob(parseAppSpec('web', JSON.stringify({ ...doc, vcpus: 4 })))
  assert.equal(a.Meta[META_OWNER], OWNER)
  assert.match(a.Meta[META_SPEC_HASH]!, /^[0-9a-f]{64}$/)
  assert.notEqual(a.Meta[META_SPEC_HASH], b.Meta[META_SPEC_HASH])
  assert.equal(renderAppJob(parseAppSpec('web', JSON.stringify(doc))).Meta[META_SPEC_HASH], a.Meta[META_SPEC_HASH])
  assert.equal(a.TaskGroups[0]!.Count, 2)
})

test('every problem in a vm document names the field and the reason', () => {
  assert.match(problem({ ...doc, image: 'debian.qcow2' }), /^image: expected an absolute path on the client host or an http\(s\):\/\/ URL/)
  assert.match(problem({ ...doc, image: 'ftp://x/debian.qcow2' }), /^image: expected an absolute path/)
  assert.match(problem({ ...doc, image: '/srv/../etc/shadow' }), /^image: expected an absolute path to a file, without \. or \.\. segments/)
  assert.match(problem({ ...doc, image: undefined }), /^image: required/)
  assert.match(problem({ ...doc, vcpus: 0 }), /^vcpus: expected a whole number from 1 to 64/)
  assert.match(problem({ ...doc, vcpus: 65 }), /^vcpus: expected a whole number from 1 to 64/)
  assert.match(problem({ ...doc, memory: 'lots' }), /^memory: expected a size such as "512KiB" or "64MiB", got "lots"/)
  assert.match(problem({ ...doc, memory: '256MiB' }), /^memory: expected from 512MiB to 1024GiB/)
  assert.match(problem({ ...doc, memory: 2048 }), /^memory: expected a string/)
  assert.match(problem({ ...doc, colour: 'red' }), /^colour: unknown field \(allowed: kind, image, vcpus, memory/)
  assert.match(problem({ ...doc, cloudInit: { userData, sshKeys: [key] } }), /^cloudInit\.sshKeys: unknown field \(allowed: userData, sshAuthorizedKey, password\)/)
  assert.match(problem({ ...doc, disks: { primarySize: 'huge' } }), /^disks\.primarySize: expected a size/)
  assert.match(problem({ ...doc, disks: { thinCopy: 'yes' } }), /^disks\.thinCopy: expected true or false/)
  assert.match(problem({ ...doc, cloudInit: { userData: `#cloud-config\n${'a'.repeat(33 * 1024)}` } }), /^cloudInit\.userData: \d+ bytes is over the limit of 32768/)
  assert.match(problem({ ...doc, cloudInit: { userData: 'runcmd: [ls]\n' } }), /^cloudInit\.userData: expected cloud-config text/)
  assert.match(problem({ ...doc, cloudInit: { userData: 42 } }), /^cloudInit\.userData: expected a string/)
  assert.match(problem({ ...doc, cloudInit: { sshAuthorizedKey: `${key}\nssh-rsa AAAA` } }), /^cloudInit\.sshAuthorizedKey: expected one OpenSSH public key/)
  assert.match(problem({ ...doc, cloudInit: { password: 'short' } }), /^cloudInit\.password: expected 8 to 128 characters/)
  assert.match(problem({ ...doc, network: { bridge: 'a-very-long-bridge-name' } }), /^network\.bridge: expected a Linux interface name/)
  assert.match(problem({ ...doc, network: { ports: { ssh: 0 } } }), /^network\.ports\.ssh: expected a whole number from 1 to 65535/)
  assert.match(problem({ ...doc, network: { ports: { 'Bad-Label': 22 } } }), /^network\.ports\.Bad-Label: a port label is lower-case letters/)
  assert.match(problem({ ...doc, service: { port: 'https' } }), /^service\.port: expected one of the labels in network\.ports \(ssh, http\)/)
  assert.match(problem({ ...doc, service: {} }), /^service\.port: required/)
  assert.match(problem({ ...doc, count: 101 }), /^count: expected a whole number from 0 to 100/)
  assert.match(problem({ ...doc, datacenters: [] }), /^datacenters: expected at least one datacenter/)
  assert.match(problem({ ...doc, datacenters: ['dc 1'] }), /^datacenters\[0\]: expected a datacenter name/)
  assert.match(problem({ kind: 'container' }), /^kind: expected "wasm-service", got "container" \(the other kind is "vm"\)/)
})

test('the renderer checks a typed spec itself and names the field', () => {
  const cases: Array<[Partial<VmSpec>, string]> = [
    [{ name: 'x'.repeat(49) }, 'name'],
    [{ image: '/srv/${NOMAD_TASK_DIR}/x.qcow2' }, 'image'],
    [{ vcpus: 1.5 }, 'vcpus'],
    [{ memory: '0MiB' }, 'memory'],
    [{ disks: { primarySize: '0MiB' } }, 'disks.primarySize'],
    [{ network: { bridge: 'virbr0', ports: { ssh: 70000 } } }, 'network.ports.ssh'],
    [{ count: -1 }, 'count'],
  ]
  for (const [patch, field] of cases) {
    assert.throws(() => renderVmJob({ ...base, ...patch }), (err: unknown) => err instanceof JobSpecError && err.field === field && err.code === 'LEAN_ERR_SPEC_INVALID')
  }
})

test('rendering is deterministic', () => {
  const spec = vmOf('web', doc)
  assert.equal(JSON.stringify(renderVmJob(spec)), JSON.stringify(renderVmJob({ ...spec })))
})
