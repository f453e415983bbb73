// The cloud's private libvirtd shares nothing host-wide with another one: a
// second cloud's (here a scratch one in a temp dir) starts and answers beside
// it, and stopping that one leaves the cloud's untouched.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { libvirtdSpawnSpec, libvirtHealth, prepareLibvirt } from '../../../infra/cloud/agents/libvirt.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'

test("a second private libvirtd runs beside the cloud's, and stopping it leaves the cloud's running", async (t) => {
  const { config } = await useCloud()
  assert.match(await libvirtHealth(config.dataDir), /^libvirt [\d.]+ with QEMU/)
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-virt-second-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await prepareLibvirt(dir)
  const spec = libvirtdSpawnSpec(dir)
  let stderr = ''
  const child = spawn(spec.command, spec.args, { cwd: spec.cwd, stdio: ['ignore', 'ignore', 'pipe'] })
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
  })
  const version = await waitFor(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`the second libvirtd exited (${child.exitCode}): ${stderr}`)
      return await libvirtHealth(dir, 120_000).catch(() => false)
    },
    {
      timeoutMs: 150_000,
      what: 'the second libvirtd to answer',
      intervalMs: 250,
      isFatal: (err) => /exited/.test((err as Error).message),
    },
  )
  assert.match(String(version), new RegExp(`socket=${dir}/libvirt/run/libvirt-sock`))
  child.kill('SIGTERM')
  assert.equal(await exited, 0, stderr)
  assert.match(
    await libvirtHealth(config.dataDir),
    /^libvirt [\d.]+ with QEMU/,
    "the cloud's libvirtd still answers",
  )
})
