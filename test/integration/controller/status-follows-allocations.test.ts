// A running app's status stays true after the controller is done with it:
// when its task dies (the runner is SIGKILLed), the allocation watch wakes the
// controller, the status drops below the desired count, and it comes back to
// running once Nomad has restarted the task. No polling is involved.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import type { AppStatus } from '../../../controller/app-status.ts'
import { loadControllerConfig } from '../../../controller/config.ts'
import { asController } from '../../harness/controller-identity.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { startController } from '../../../controller/controller.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { allocations, taskProcessPids, stopJob } from '../../harness/wasm-job.ts'

test("a running app's status follows its allocations after the task dies", async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  // The controller acts with least-privilege tokens of its own; the test writes desired state as the operator.
  const config = loadControllerConfig(await asController({ ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/` }))
  const controller = startController(config, pino({ level: 'warn' }))
  const kv = new ConsulKv(config.consulAddr, env.CONSUL_HTTP_TOKEN)
  const name = uniqueName('app')
  t.after(async () => {
    await controller.stop()
    await kv.deleteTree(`${root}/`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, name).catch(() => {})
  })
  const hello = await helloComponent()
  await kv.set(`${config.appsPrefix}${name}`, JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count: 1, service: { checkPath: '/' } }))
  const seen: AppStatus[] = []
  const waitStatus = (ok: (s: AppStatus) => boolean, what: string) =>
    waitFor(async () => {
      const entry = await kv.get(`${config.statusPrefix}${name}`)
      const s = entry && (JSON.parse(entry.value) as AppStatus)
      if (s && seen.at(-1)?.healthy !== s.healthy) seen.push(s)
      return s && ok(s) ? s : false
    }, { timeoutMs: 90_000, intervalMs: 100, what })
  await waitStatus((s) => s.phase === 'running' && s.healthy === 1, 'the app to run')

  const [alloc] = (await allocations(env.NOMAD_ADDR!, name)).filter((a) => a.ClientStatus === 'running')
  assert.ok(alloc)
  const pids = await taskProcessPids(alloc.ID)
  assert.ok(pids.length > 0, 'the runner process is there')
  for (const pid of pids) process.kill(pid, 'SIGKILL')

  await waitStatus((s) => s.healthy === 0 && s.phase !== 'running', 'the status to show the dead task')
  await waitStatus((s) => s.phase === 'running' && s.healthy === 1, 'the status to show the restarted task')
  assert.deepEqual(seen.map((s) => s.healthy).slice(-3), [1, 0, 1])
})
