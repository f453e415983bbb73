// The wasm driver holds each task to what Nomad reserved for it: its host
// runs in a cgroup of its own with the task's memory, CPU shares and a process
// cap, so a component that makes its host outgrow the task's memory is
// stopped by the kernel, Nomad says why, and the other tasks serve on.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, allocations, stopJob, taskProcessPids, waitForAllocs, waitForTaskEvent, wasmJob } from '../../harness/wasm-job.ts'
import { cgroupLayoutFromMounts } from '../../../task-driver/wasm/task-cgroup.ts'

const MIB = 1024 * 1024

/** A wasm job whose task reserves `memoryMB`, with one instance allowed to grow to all of it. */
function memoryJob(id: string, component: { file: string; sha256: string }, memoryMB: number, config: Record<string, unknown> = {}) {
  const job = wasmJob(id, component, { instances: 1, config: { instance_memory: `${memoryMB}MiB`, ...config } }) as { Job: { TaskGroups: Array<{ Tasks: Array<{ Resources: object }> }> } }
  job.Job.TaskGroups[0]!.Tasks[0]!.Resources = { CPU: 100, MemoryMB: memoryMB }
  return job
}

/** The cgroup directories of `pid`, by controller (cgroup v1) or the one of v2. */
async function cgroupsOf(pid: number): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  for (const line of (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n')) {
    const [, controllers, dir] = line.split(':')
    for (const c of controllers!.split(',')) found.set(c || 'unified', dir!)
  }
  return found
}

test("a wasm task's host runs in a cgroup of its own with the task's memory, CPU shares and a process cap", async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('cgroup')
  await nomad(addr, 'PUT', '/v1/jobs', memoryJob(id, await helloComponent(), 96))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const [pid] = await taskProcessPids(alloc!.ID)
  assert.ok(pid, 'the task has a host process')

  const layout = cgroupLayoutFromMounts(await readFile('/proc/self/mounts', 'utf8'))
  assert.ok(layout, 'this node has cgroup memory, cpu and pids controllers')
  const groups = await cgroupsOf(pid)
  if (layout.version === 1) {
    const memory = groups.get('memory')!
    assert.match(memory, new RegExp(`^/lean\\.tasks/${alloc!.ID}\\.`), `the host's memory cgroup is the task's own, got ${memory}`)
    assert.equal(Number(await readFile(`${layout.memory}${memory}/memory.limit_in_bytes`, 'utf8')), 96 * MIB)
    assert.equal(Number(await readFile(`${layout.cpu}${groups.get('cpu')}/cpu.shares`, 'utf8')), 100)
    assert.equal((await readFile(`${layout.pids}${groups.get('pids')}/pids.max`, 'utf8')).trim(), '1024')
  } else {
    const dir = `${layout.root}${groups.get('unified')}`
    assert.equal(Number(await readFile(`${dir}/memory.max`, 'utf8')), 96 * MIB)
    assert.equal((await readFile(`${dir}/pids.max`, 'utf8')).trim(), '1024')
  }
  assert.equal((await fetch(`${allocAddress(alloc!)}/`)).status, 200)

  // The job ends, and so does its cgroup.
  await stopJob(addr, id)
  await waitFor(async () => (await taskProcessPids(alloc!.ID)).length === 0, { timeoutMs: 60_000, what: 'the task process to end' })
  const memoryDir = layout.version === 1 ? `${layout.memory}${groups.get('memory')}` : `${layout.root}${groups.get('unified')}`
  await waitFor(async () => readFile(`${memoryDir}/cgroup.procs`).then(() => false, () => true), { timeoutMs: 30_000, what: `the task's cgroup ${memoryDir} to be removed` })
})

/**
 * Opens `count` connections at once, each sending GET /spin?ms=60000 with a header of
 * `headerBytes`; resolves, once all have closed, with how many got any answer.
 */
function waitingRequests(base: string, count: number, headerBytes: number): Promise<number> {
  const url = new URL(base)
  const head = `GET /spin?ms=60000 HTTP/1.1\r\nHost: ${url.host}\r\nx-pad: ${'a'.repeat(headerBytes)}\r\n\r\n`
  let answered = 0
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(Number(url.port), url.hostname)
      let got = false
      socket.setTimeout(120_000, () => socket.destroy())
      socket.on('data', () => {
        if (!got) answered++
        got = true
      })
      socket.on('error', () => {})
      socket.on('close', () => resolve())
      socket.write(head)
    })
  return Promise.all(Array.from({ length: count }, one)).then(() => answered)
}

test('a task whose host outgrows its reserved memory is stopped by the kernel; Nomad says so and a neighbour serves on', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const component = await helloComponent()
  const victim = uniqueName('oom')
  const neighbour = uniqueName('oomn')
  await nomad(addr, 'PUT', '/v1/jobs', memoryJob(neighbour, component, 96))
  t.after(() => stopJob(addr, neighbour).catch(() => {}))
  await nomad(addr, 'PUT', '/v1/jobs', memoryJob(victim, component, 64))
  t.after(() => stopJob(addr, victim).catch(() => {}))
  const [next] = await waitForAllocs(addr, neighbour, 1, 'running')
  const [alloc] = await waitForAllocs(addr, victim, 1, 'running')
  const base = allocAddress(alloc!)

  // Request bodies stream and instances are held to instance_memory, but the host keeps the head
  // of each request waiting for an instance: 200 of them with a 380 KiB header, waiting while the
  // one instance spins, need more than the task's 64 MiB.
  const answered = await waitingRequests(base, 200, 380 * 1024)
  assert.equal(answered, 0, 'the host died with the requests unanswered')
  const events = await waitForTaskEvent(addr, alloc!.ID, /OOM Killed|reserved memory/, 60_000)
  assert.match(events, /OOM Killed|reserved memory \(resources\.memory\)/)
  const [state] = await waitFor(async () => {
    const a = (await allocations(addr, victim))[0]
    return a && a.ClientStatus === 'failed' ? [a] : false
  }, { timeoutMs: 60_000, what: `the allocation of ${victim} to fail` })
  assert.equal(state!.ClientStatus, 'failed')

  // The neighbour on the same node is untouched.
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${allocAddress(next!)}/`)).status, 200)
})

test('instances that together may outgrow the task memory are refused naming instance_memory', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('overcommit')
  const job = wasmJob(id, await helloComponent(), { instances: 4, config: { instance_memory: '128MiB' } })
  await nomad(addr, 'PUT', '/v1/jobs', job)
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'failed')
  const events = await waitForTaskEvent(addr, alloc!.ID, /instance_memory/)
  assert.match(events, /instance_memory: 4 instances × 128 MiB = 512 MiB is more than the task's reserved memory, 256 MiB/)
})
