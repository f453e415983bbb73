import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { InstanceCheck } from '../../../controller/consul-health.ts'
import { WorldCache } from '../../../controller/world-cache.ts'

const check = (o: Partial<InstanceCheck> & Pick<InstanceCheck, 'node' | 'name' | 'status'>): InstanceCheck => ({
  key: `${o.node}/${o.name}`,
  serviceId: '',
  serviceName: '',
  output: '',
  notes: '',
  ...o,
})

test('synced only once every source has listed once; until then an absence means nothing', () => {
  const world = new WorldCache()
  world.setSpecs(new Map())
  world.setJobs([])
  world.setAllocations([])
  assert.equal(world.synced, false)
  world.setChecks([])
  assert.equal(world.synced, true)
})

test("an instance's health is its own checks and its node's, by service name", () => {
  const world = new WorldCache()
  world.setChecks([
    check({ node: 'n1', name: 'Serf Health Status', status: 'passing' }),
    check({ node: 'n2', name: 'Serf Health Status', status: 'critical' }),
    check({ node: 'n1', name: 'web http', status: 'passing', serviceId: '_nomad-task-a', serviceName: 'web' }),
    check({ node: 'n2', name: 'web http', status: 'passing', serviceId: '_nomad-task-b', serviceName: 'web' }),
    check({ node: 'n1', name: 'api http', status: 'warning', serviceId: '_nomad-task-c', serviceName: 'api' }),
  ])
  const web = world.instances('web')
  assert.deepEqual(
    web.map((i) => [i.id, i.checks.map((c) => `${c.name}=${c.status}`)]),
    [
      ['_nomad-task-a', ['web http=passing', 'Serf Health Status=passing']],
      ['_nomad-task-b', ['web http=passing', 'Serf Health Status=critical']],
    ],
  )
  assert.deepEqual(world.instances('api').map((i) => i.checks.length), [2])
  assert.deepEqual(world.instances('none'), [])
})

test('allocations by job; a registration and a purge show at once, and the next listing wins', () => {
  const world = new WorldCache()
  world.setAllocations([{ ID: 'a1', JobID: 'web' }, { ID: 'a2', JobID: 'web' }, { ID: 'b1', JobID: 'api' }])
  assert.deepEqual(world.allocations('web').map((a) => a.ID), ['a1', 'a2'])
  world.setJobs([{ ID: 'web', JobModifyIndex: 5, Meta: { hash: 'old' } }], 5)
  world.registered({ ID: 'web', JobModifyIndex: 9, Meta: { hash: 'new' } }, 9)
  assert.equal(world.job('web')?.Meta?.hash, 'new')
  // A listing answered before the write does not bring the old job back; one after it wins.
  world.setJobs([{ ID: 'web', JobModifyIndex: 5, Meta: { hash: 'old' } }], 8)
  assert.equal(world.job('web')?.Meta?.hash, 'new')
  world.setJobs([{ ID: 'web', JobModifyIndex: 9, Meta: { hash: 'listed' } }], 9)
  assert.equal(world.job('web')?.Meta?.hash, 'listed')
  world.purged('web', 15)
  assert.equal(world.job('web'), undefined)
  world.setJobs([{ ID: 'web', JobModifyIndex: 9, Meta: { hash: 'listed' } }], 14)
  assert.equal(world.job('web'), undefined, 'a listing from before the purge does not bring the job back')
  world.setJobs([{ ID: 'web', JobModifyIndex: 16, Meta: { hash: 'again' } }], 16)
  assert.equal(world.job('web')?.JobModifyIndex, 16)
})
