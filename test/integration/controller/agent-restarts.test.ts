// Restart Consul, then Nomad, under a running controller process: it must
// reconnect on its own (same process, no restart) and keep converging: a
// spec changed after each restart is applied, and after the Nomad restart a
// job stopped out of band is put back (so its Nomad watch is live again).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AppStatus } from '../../../controller/app-status.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { restartAgent, useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { spawnController, type ControllerProcess } from '../../harness/controller-process.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { stopJob } from '../../harness/wasm-job.ts'

test('restarting Consul and Nomad under the controller: it reconnects and converges without a restart of its own', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const name = uniqueName('app')
  const running: ControllerProcess[] = []
  t.after(async () => {
    await Promise.all(running.map((c) => c.kill('SIGTERM')))
    await kv.deleteTree(`${root}/`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, name).catch(() => {})
  })
  const hello = await helloComponent()
  const spec = (count: number) => JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count, service: { checkPath: '/' } })
  const converged = (count: number, what: string) =>
    waitFor(async () => {
      const entry = await kv.get(`${root}/status/${name}`)
      const s = entry && (JSON.parse(entry.value) as AppStatus)
      const job = await nomad<{ Stop: boolean; TaskGroups: Array<{ Count: number }> }>(env.NOMAD_ADDR!, 'GET', `/v1/job/${name}`).catch(() => undefined)
      return s?.phase === 'running' && s.healthy === count && job !== undefined && !job.Stop && job.TaskGroups[0]?.Count === count
    }, { timeoutMs: 120_000, intervalMs: 250, what })

  const controller = await spawnController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/`, LEAN_LEADER_KEY: `${root}/leader`, LEAN_LOCK_DELAY: '1s' }, `${root}-c`)
  running.push(controller)
  await controller.waitForRole('leader')
  await kv.set(`${root}/apps/${name}`, spec(1))
  await converged(1, 'the app to run before any restart')
  const pid = controller.child.pid

  await restartAgent('consul')
  await kv.set(`${root}/apps/${name}`, spec(2))
  await converged(2, 'the controller to apply a change made after Consul restarted')

  await restartAgent('nomad')
  await kv.set(`${root}/apps/${name}`, spec(1))
  await converged(1, 'the controller to apply a change made after Nomad restarted')
  await nomad(env.NOMAD_ADDR!, 'DELETE', `/v1/job/${name}`)
  await converged(1, 'the controller to restore a job stopped after Nomad restarted')

  assert.equal(controller.child.exitCode, null, 'the controller process never exited')
  assert.equal(controller.child.pid, pid)
  await controller.waitForRole('leader', 90_000)
})
