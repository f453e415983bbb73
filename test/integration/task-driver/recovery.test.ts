import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { agentFiles, up } from '../../../infra/cloud/up.ts'
import { installedDriverDir, nomadAgent } from '../../../infra/cloud/agents/nomad.ts'
import { isAlive } from '../../../infra/cloud/processes.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { capabilityProbeComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, allocations, pluginPids, taskProcessPids, stopJob, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

test('a task survives a Nomad agent crash and is recovered by the restarted agent, capability API included', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('survivor')
  // The capability probe: its guest writes to S3 through the task's capability API, which the plugin serves.
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, await capabilityProbeComponent(), { instances: 1, config: { grants: { buckets: ['cloud-pdfs'] } } }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  t.after(() => s3FromEnv(env).removeObject('cloud-pdfs', `${id}.txt`).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const [task] = await taskProcessPids(alloc!.ID)
  assert.ok(task, 'the task has a process (its wasmtime host)')

  // Crash the agent: no chance to shut anything down.
  const { pid: agentPid } = JSON.parse(await readFile(agentFiles(config, nomadAgent).pidFile, 'utf8')) as { pid: number }
  process.kill(agentPid, 'SIGKILL')
  await waitFor(async () => !(await isAlive(agentPid)), { timeoutMs: 60_000, what: 'the Nomad agent to die' })
  assert.equal(await isAlive(task), true, 'the task keeps running without the agent')
  const put = (body: string) => fetch(`${allocAddress(alloc!)}/blob/cloud-pdfs/${id}.txt`, { method: 'PUT', body })
  assert.equal((await put('before')).status, 200, 'and keeps serving, capabilities included (the plugin outlives the agent)')
  // Kill the driver's plugin too: the capability API goes with it, the task does not.
  const plugins = await pluginPids(installedDriverDir(config))
  assert.ok(plugins.length > 0, 'the wasm plugin process is found')
  for (const pid of plugins) process.kill(pid, 'SIGKILL')
  await waitFor(async () => (await pluginPids(installedDriverDir(config))).length === 0, { timeoutMs: 30_000, what: 'the plugin to die' })
  const during = await put('during')
  assert.ok(during.status >= 500, `without the plugin a capability call fails visibly (the guest is refused a connection): ${during.status}`)
  assert.equal(await isAlive(task), true, 'the task still runs')

  await up(config, () => {})
  // Recovered by a new plugin: the same process, still running, still answering, and Nomad agrees.
  await waitForAllocs(addr, id, 1, 'running')
  assert.deepEqual(await taskProcessPids(alloc!.ID), [task])
  // RecoverTask runs as the new agent starts its client; the capability API is back once it has.
  await waitFor(async () => (await put('after')).status === 200, { timeoutMs: 60_000, what: 'the recovered plugin to serve the capability API again' })
  assert.equal(await (await put('again')).text(), 'again')
  const states = (await allocations(addr, id))[0]!.TaskStates!.app!
  assert.equal(states.State, 'running')

  await stopJob(addr, id)
  // A client that has just restarted re-syncs with the servers before it sees
  // the stop (seen taking ~20 s); the kill itself then takes milliseconds.
  await waitFor(async () => (await taskProcessPids(alloc!.ID)).length === 0, { timeoutMs: 60_000, what: 'no task process left after job stop' })
  assert.deepEqual(await taskProcessPids(alloc!.ID), [])
})
