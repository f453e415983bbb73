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
import { VM } from './app-document-examples.ts'

const { sha256: sha, key, userData, doc } = VM
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
  const spec = vmOf('tiny', VM.tiny)
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
  const named = vmOf('web', VM.namedService)
  assert.deepEqual(renderVmJob(named).TaskGroups[0]!.Tasks[0]!.Services[0]!.Checks[0], {
    Name: 'site tcp',
    Type: 'tcp',
    Interval: 10e9,
    Timeout: 2e9,
  })
})

test('state stopped renders count 0 and keeps everything else', () => {
  const running = renderVmJob(vmOf('web', doc))
  const stopped = renderVmJob(vmOf('web', VM.stopped))
  assert.equal(stopped.TaskGroups[0]!.Count, 0)
  assert.deepEqual(stopped.TaskGroups[0]!.Tasks, running.TaskGroups[0]!.Tasks)
  assert.equal(renderVmJob(vmOf('web', VM.running)).TaskGroups[0]!.Count, 2)
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
  const stated = renderVmJob(vmOf('web', VM.cpu10)).TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(stated.Resources, { CPU: 10, MemoryMB: 2048 + 160 })
  assert.equal(vmOf('web', VM.cpu4000).cpu, 4000)
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
  const b = renderAppJob(parseAppSpec('web', JSON.stringify(VM.vcpus4)))
  const c = renderAppJob(parseAppSpec('web', JSON.stringify(VM.stopped)))
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
  for (const { doc: d, reason } of VM.problems) assert.match(problem(d), reason)
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
  const task = renderVmJob(vmOf('web', VM.egress)).TaskGroups[0]!.Tasks[0]!
  assert.deepEqual(task.Config.egress, ['email', 'pdf'])
  assert.ok(!('egress' in renderVmJob(vmOf('web', doc)).TaskGroups[0]!.Tasks[0]!.Config))
  assert.ok(!('egress' in renderVmJob(vmOf('web', VM.noEgress)).TaskGroups[0]!.Tasks[0]!.Config))
})

test("egress: service names, each once, at most 8, never the cloud's own; refused naming egress[i]", () => {
  for (const { doc: d, reason } of VM.egressProblems) assert.match(problem(d), reason)
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
