// Kill the controller (SIGKILL) in the middle of reconciling, ten times in a
// row, while the specs keep changing; then let one run. It must converge:
// every app's job matches its latest spec and runs exactly the desired
// allocations, the deleted app's job is gone, and no other job carries the
// test's names (no duplicates, no orphans).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AppStatus } from '../../../controller/app-status.ts'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { META_OWNER, META_SPEC_HASH, OWNER, parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { spawnController, type ControllerProcess } from '../../harness/controller-process.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocations, stopJob } from '../../harness/wasm-job.ts'

const ROUNDS = 10

test('killed mid-reconcile ten times while specs change, the controller converges with no duplicate or orphan jobs', async (t) => {
  const { env } = await useCloud()
  const root = uniqueName('lean-test')
  const controllerEnv = { ...env, LEAN_APPS_PREFIX: `${root}/apps/`, LEAN_STATUS_PREFIX: `${root}/status/`, LEAN_LEADER_KEY: `${root}/leader`, LEAN_LOCK_DELAY: '1s', LEAN_CONTROLLER_WORKERS: '2' }
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const names = ['a', 'b', 'c', 'd'].map((n) => `${root}-${n}`)
  const [, , , removed] = names as [string, string, string, string]
  let current: ControllerProcess | undefined
  t.after(async () => {
    await current?.kill('SIGTERM')
    await kv.deleteTree(`${root}/`).catch(() => {})
    await Promise.all(names.map((n) => stopJob(env.NOMAD_ADDR!, n).catch(() => {})))
  })
  const hello = await helloComponent()
  // Every round changes every spec (ROUND), so each round has work to kill in the middle of.
  const spec = (count: number, round: number) =>
    JSON.stringify({ kind: 'wasm-service', component: { sha256: hello.sha256, source: hello.file }, count, env: { ROUND: String(round) }, service: { checkPath: '/' } })
  const desired = new Map<string, string>()
  const declare = async (round: number) => {
    for (const [i, name] of names.entries()) {
      // The fourth app goes away half-way; its job must be purged, not orphaned.
      if (name === removed && round >= ROUNDS / 2) {
        desired.delete(name)
        await kv.delete(`${root}/apps/${name}`)
        continue
      }
      const document = spec(1 + ((round + i) % 2), round)
      desired.set(name, document)
      await kv.set(`${root}/apps/${name}`, document)
    }
  }

  let kills = 0
  for (let round = 0; round < ROUNDS; round++) {
    // Half the rounds change the specs while no controller runs, half while one leads.
    if (round % 2 === 0) await declare(round)
    current = await spawnController(controllerEnv, `${root}-r${round}`)
    await current.waitForRole('leader')
    if (round % 2 === 1) await declare(round)
    // Kill it right after it has registered (or purged) one job, while the others are in flight.
    await current.waitForLine((l) => names.includes(l.app as string) && (l.msg === 'job registered' || l.msg === 'spec deleted: job stopped and purged'), 60_000)
    await current.kill('SIGKILL')
    kills++
  }
  assert.equal(kills, ROUNDS)

  current = await spawnController(controllerEnv, `${root}-final`)
  for (const [name, document] of desired) {
    const hash = renderAppJob(parseAppSpec(name, document)).Meta?.[META_SPEC_HASH]
    const count = (JSON.parse(document) as { count: number }).count
    await waitFor(async () => {
      const entry = await kv.get(`${root}/status/${name}`)
      const status = entry && (JSON.parse(entry.value) as AppStatus)
      const job = await nomad<{ Meta: Record<string, string>; Stop: boolean }>(env.NOMAD_ADDR!, 'GET', `/v1/job/${name}`).catch(() => undefined)
      const running = (await allocations(env.NOMAD_ADDR!, name)).filter((a) => a.ClientStatus === 'running' && a.DesiredStatus === 'run')
      return status?.phase === 'running' && job !== undefined && job.Meta[META_SPEC_HASH] === hash && !job.Stop && running.length === count
    }, { timeoutMs: 120_000, intervalMs: 250, what: `${name} to converge on its last spec (${count} running)` })
  }
  const jobs = await nomad<Array<{ ID: string; Meta?: Record<string, string> | null; Status: string }>>(env.NOMAD_ADDR!, 'GET', `/v1/jobs?prefix=${root}&meta=true`)
  assert.deepEqual(jobs.map((j) => j.ID).sort(), [...desired.keys()].sort(), 'exactly one job per declared app; the deleted app was purged')
  assert.ok(jobs.every((j) => j.Meta?.[META_OWNER] === OWNER))
  assert.equal(await kv.get(`${root}/status/${removed}`), undefined, "the deleted app's status is gone")
})
