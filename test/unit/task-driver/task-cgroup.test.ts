import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { cgroupLayoutFromMounts, cgroupName, cpuWeight, joinCommand, type TaskCgroup } from '../../../task-driver/wasm/task-cgroup.ts'
import { assertInstancesFit } from '../../../task-driver/wasm/launch-task.ts'
import { parseTaskConfig } from '../../../task-driver/wasm/task-config.ts'
import type { RunnerSpec } from '../../../task-driver/wasm/runner-spec.ts'

const HYBRID = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0`

test('the layout: v1 controllers on a hybrid host, the unified tree on a pure v2 host, none without controllers', () => {
  assert.deepEqual(cgroupLayoutFromMounts(HYBRID), { version: 1, memory: '/sys/fs/cgroup/memory', cpu: '/sys/fs/cgroup/cpu,cpuacct', pids: '/sys/fs/cgroup/pids' })
  assert.deepEqual(cgroupLayoutFromMounts('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\nproc /proc proc rw 0 0'), { version: 2, root: '/sys/fs/cgroup' })
  assert.equal(cgroupLayoutFromMounts('proc /proc proc rw 0 0'), undefined)
  // A v1 host missing the pids controller is not enough, and its name=systemd tree is no v2 host.
  assert.equal(cgroupLayoutFromMounts(HYBRID.split('\n').filter((l) => !l.includes('pids')).join('\n')), undefined)
})

test("a task's cgroup name is Nomad's task id with dots, or a hash when the id holds anything else", () => {
  assert.equal(cgroupName('0b9a7c1e-aaaa-bbbb-cccc-0123456789ab/app/5f1c'), '0b9a7c1e-aaaa-bbbb-cccc-0123456789ab.app.5f1c')
  assert.match(cgroupName('../../etc'), /^task-[0-9a-f]{32}$/)
  assert.match(cgroupName('a b'), /^task-[0-9a-f]{32}$/)
})

test("cpu.weight follows the shares the way runc maps them", () => {
  assert.equal(cpuWeight(2), 1)
  assert.equal(cpuWeight(1024), 39)
  assert.equal(cpuWeight(262_144), 10_000)
  assert.equal(cpuWeight(1), 1)
})

test('the joined command writes its own pid into every cgroup.procs, then execs with the same pid and arguments untouched', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-cgroup-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const procs = [path.join(dir, 'memory.procs'), path.join(dir, 'cpu.procs')]
  for (const file of procs) await writeFile(file, '')
  const cgroup: TaskCgroup = { version: 1, made: [], procs, memoryDir: dir }
  const hostile = '$(touch pwned); `id` "quoted" -- ;'
  const { command, args } = joinCommand(cgroup, '/bin/sh', ['-c', 'echo "$$ $1"', 'me', hostile])
  const child = spawn(command, args, { cwd: dir })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  assert.equal(code, 0)
  assert.equal(out.trim(), `${child.pid} ${hostile}`, 'the command ran as the same process, with its argument as given')
  for (const file of procs) assert.equal((await readFile(file, 'utf8')).trim(), String(child.pid))
  await assert.rejects(readFile(path.join(dir, 'pwned')), 'nothing of the arguments was run by the shell')
})

test('a cgroup that cannot be joined stops the command before it runs', async () => {
  const cgroup: TaskCgroup = { version: 1, made: [], procs: ['/nonexistent/cgroup.procs'], memoryDir: '/nonexistent' }
  const { command, args } = joinCommand(cgroup, '/bin/echo', ['ran'])
  const child = spawn(command, args)
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d))
  assert.equal(await new Promise<number | null>((resolve) => child.once('exit', resolve)), 125)
  assert.equal(out, '')
})

test("instances that together may outgrow the task's reserved memory are refused naming instance_memory", () => {
  const spec = (instances: number, instanceMemory: string, memoryBytes?: number) =>
    ({
      config: parseTaskConfig({ component: `/c/${'a'.repeat(64)}.wasm`, sha256: 'a'.repeat(64), port: 'http', instances, instance_memory: instanceMemory }),
      ...(memoryBytes !== undefined && { reservation: { memoryBytes, cpuShares: 100 } }),
    }) as unknown as RunnerSpec
  assert.doesNotThrow(() => assertInstancesFit(spec(2, '128MiB', 256 * 2 ** 20)))
  assert.doesNotThrow(() => assertInstancesFit(spec(8, '128MiB')), 'a task started outside Nomad has no reservation to hold')
  assert.throws(() => assertInstancesFit(spec(4, '128MiB', 256 * 2 ** 20)), {
    code: 'LEAN_ERR_DRIVER_CONFIG',
    message: "invalid task config: instance_memory: 4 instances × 128 MiB = 512 MiB is more than the task's reserved memory, 256 MiB (resources.memory)",
  })
})
