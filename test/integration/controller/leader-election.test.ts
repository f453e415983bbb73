// Two controller processes on the real Consul and Nomad: exactly one leads
// and reconciles; SIGKILL it, and the other takes the lock once Consul has
// seen the leader's health check fail and the lock delay has passed, then
// reconciles a change made after the kill.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AppStatus } from '../../../controller/app-status.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { spawnController, type ControllerProcess } from '../../harness/controller-process.ts'
import { uniqueName } from '../../harness/names.ts'
import { stopJob } from '../../harness/wasm-job.ts'

/** Starts one controller, waits until it leads, then a second, and waits until it follows. */
async function leaderAndFollower(env: Record<string, string | undefined>, root: string, processes: ControllerProcess[]): Promise<[ControllerProcess, ControllerProcess]> {
  const first = await spawnController(env, `${root}-a`)
  processes.push(first)
  await first.waitForRole('leader')
  const second = await spawnController(env, `${root}-b`)
  processes.push(second)
  await second.waitForRole('follower')
  return [first, second]
}

test('two controllers: one leads; SIGKILL it and the other leads and reconciles', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const controllerEnv = { ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/`, LEAN_LEADER_KEY: `${root}/leader`, LEAN_LOCK_DELAY: '1s' }
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const name = uniqueName('app')
  const processes: ControllerProcess[] = []
  t.after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGTERM')))
    await kv.deleteTree(`${root}/`).catch(() => {})
    await stopJob(env.NOMAD_ADDR!, name).catch(() => {})
  })
  const hello = await helloComponent()
  const spec = (count: number) => JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count, service: { checkPath: '/' } })
  const waitStatus = (ok: (s: AppStatus) => boolean, what: string) =>
    waitFor(async () => {
      const entry = await kv.get(`${root}/status/${name}`)
      const s = entry && (JSON.parse(entry.value) as AppStatus)
      return s && ok(s) ? s : false
    }, { timeoutMs: 90_000, intervalMs: 200, what })

  const [first, second] = await leaderAndFollower(controllerEnv, root, processes)

  await kv.set(`${root}/apps/${name}`, spec(1))
  await waitStatus((s) => s.phase === 'running', 'the leader to run the app')
  assert.ok(first.lines.some((l) => l.app === name && l.msg === 'job registered'), 'the leader registered the job')
  assert.ok(!second.lines.some((l) => l.app === name), 'the follower did nothing for the app')

  await first.kill('SIGKILL')
  const killedAt = Date.now()
  await second.waitForRole('leader', 90_000)
  const takeoverMs = Date.now() - killedAt
  t.diagnostic(`takeover after SIGKILL: ${takeoverMs} ms (health check interval 1 s + lock delay 1 s)`)

  await kv.set(`${root}/apps/${name}`, spec(2))
  const s = await waitStatus((s) => s.phase === 'running' && s.healthy === 2, 'the new leader to follow the change')
  assert.equal(s.desired, 2)
  assert.ok(second.lines.some((l) => l.app === name && l.msg === 'job registered'), 'the new leader registered the change')
})

test('a controller stopped gracefully hands the lock over without waiting out the lock delay', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const controllerEnv = { ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/`, LEAN_LEADER_KEY: `${root}/leader`, LEAN_LOCK_DELAY: '60s' }
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const processes: ControllerProcess[] = []
  t.after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGTERM')))
    await kv.deleteTree(`${root}/`).catch(() => {})
  })
  const [first, second] = await leaderAndFollower(controllerEnv, root, processes)
  await first.kill('SIGTERM')
  // Well under the 60 s lock delay (Consul's maximum): the lock was released, not invalidated.
  await second.waitForRole('leader', 45_000)
})
