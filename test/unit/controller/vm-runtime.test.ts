// Reading a VM's runtime out of Nomad's answers: which allocations count, the
// host ports in each form Nomad reports them, and the console's last lines.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  acceleratorOf,
  allocationPorts,
  consoleTail,
  currentAllocations,
} from '../../../controller/vm-runtime.ts'

test('current allocations: wanted to run and not replaced, or still up while stopping', () => {
  const stubs = [
    { ID: 'replaced', Name: 'w[0]', DesiredStatus: 'run', ClientStatus: 'failed', NextAllocation: 'new' },
    { ID: 'new', Name: 'w[0]', DesiredStatus: 'run', ClientStatus: 'pending', CreateIndex: 9 },
    { ID: 'done', Name: 'w[1]', DesiredStatus: 'stop', ClientStatus: 'complete' },
    { ID: 'stopping', Name: 'w[1]', DesiredStatus: 'stop', ClientStatus: 'running', CreateIndex: 5 },
    { ID: 'failed', Name: 'w[2]', DesiredStatus: 'run', ClientStatus: 'failed' },
  ]
  assert.deepEqual(
    currentAllocations(stubs).map((a) => a.ID),
    ['new', 'stopping', 'failed'],
  )
})

test('ports: group port mappings first, else the networks (IPv6 in brackets)', () => {
  assert.deepEqual(
    allocationPorts({
      AllocatedResources: {
        Shared: {
          Ports: [
            { Label: 'http', Value: 26001, To: 8080, HostIP: '10.0.0.5' },
            { Label: 'ssh', Value: 26002, To: 22, HostIP: '10.0.0.5' },
          ],
        },
      },
    }),
    { address: '10.0.0.5', ports: { http: '10.0.0.5:26001', ssh: '10.0.0.5:26002' } },
  )
  assert.deepEqual(
    allocationPorts({
      AllocatedResources: {
        Shared: { Networks: [{ IP: 'fd00::5', DynamicPorts: [{ Label: 'http', Value: 26003 }] }] },
      },
    }),
    { address: 'fd00::5', ports: { http: '[fd00::5]:26003' } },
  )
  assert.deepEqual(
    allocationPorts({
      Resources: {
        Networks: [
          {
            IP: '10.0.0.6',
            ReservedPorts: [{ Label: 'ssh', Value: 2222 }],
            DynamicPorts: [{ Label: 'http', Value: 26004 }],
          },
        ],
      },
    }),
    { address: '10.0.0.6', ports: { ssh: '10.0.0.6:2222', http: '10.0.0.6:26004' } },
  )
  assert.deepEqual(allocationPorts({}), { address: null, ports: {} })
})

test('console tail: the last lines, without a line the byte offset cut', () => {
  assert.deepEqual(consoleTail('a\r\nb\nREADY\n', 4096, 20), ['a', 'b', 'READY'])
  assert.deepEqual(consoleTail('t of a line\nwhole\nlast\n', 20, 20), ['whole', 'last'])
  const many = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n')
  assert.deepEqual(consoleTail(many, 4096, 3), ['line 47', 'line 48', 'line 49'])
  assert.deepEqual(consoleTail(''), [])
})

test('the accelerator from the node attributes or the driver attributes', () => {
  assert.equal(acceleratorOf({ Attributes: { 'driver.virt.accelerator': 'kvm' } }), 'kvm')
  assert.equal(
    acceleratorOf({ Drivers: { virt: { Attributes: { 'driver.virt.accelerator': 'tcg' } } } }),
    'tcg',
  )
  assert.equal(acceleratorOf({ Attributes: {} }), null)
  assert.equal(acceleratorOf(undefined), null)
})
