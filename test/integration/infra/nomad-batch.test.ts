import assert from 'node:assert/strict'
import { test } from 'node:test'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'

interface Allocation {
  ID: string
  ClientStatus: string
  TaskStates?: Record<string, { State: string; Failed: boolean }>
}

test('a short Nomad batch job runs to completion', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('batch')
  // raw_exec runs only in the cloud's system namespace (infra/cloud/nomad-system.ts).
  const ns = config.nomad.systemNamespace
  const job = {
    Job: {
      ID: id,
      Name: id,
      Namespace: ns,
      Type: 'batch',
      Datacenters: ['dc1'],
      TaskGroups: [
        {
          Name: 'once',
          Count: 1,
          RestartPolicy: { Attempts: 0, Mode: 'fail' },
          ReschedulePolicy: { Attempts: 0, Unlimited: false },
          Tasks: [
            {
              Name: 'say',
              Driver: 'raw_exec',
              Config: { command: '/bin/sh', args: ['-c', 'echo hello from nomad'] },
              Resources: { CPU: 50, MemoryMB: 32 },
            },
          ],
        },
      ],
    },
  }
  await nomad(addr, 'PUT', `/v1/jobs?namespace=${ns}`, job)
  t.after(() => nomad(addr, 'DELETE', `/v1/job/${id}?purge=true&namespace=${ns}`))

  const alloc = await waitFor(
    async () => {
      const allocs = await nomad<Allocation[]>(addr, 'GET', `/v1/job/${id}/allocations?namespace=${ns}`)
      return allocs.find((a) => a.ClientStatus === 'complete' || a.ClientStatus === 'failed')
    },
    { timeoutMs: 60_000, what: `job ${id} to finish` },
  )
  assert.equal(alloc.ClientStatus, 'complete')
  assert.equal(alloc.TaskStates?.say?.Failed, false)

  const logs = await fetch(`${addr}/v1/client/fs/logs/${alloc.ID}?task=say&type=stdout&plain=true&origin=start&namespace=${ns}`, { headers: nomadHeaders() })
  assert.equal(logs.status, 200)
  assert.match(await logs.text(), /hello from nomad/)
})
