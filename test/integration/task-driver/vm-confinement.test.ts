// A VM task's QEMU is confined beyond its guest: it runs as an unprivileged
// uid and gid that no other program of the host has, in a cgroup whose memory
// hard limit is the task's memory plus the stated overhead, and when it is
// asked (through its own monitor, as a QEMU a guest had taken over would do it)
// to open a host file only root may read, or to open the cached base image
// for writing, the kernel refuses it. Before this, QEMU ran as root with no
// cgroup and opened both.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { libvirtUri } from '../../../infra/cloud/agents/libvirt.ts'
import { memoryHardLimitMiB, QEMU_OVERHEAD_MIB } from '../../../task-driver/virt/confinement.ts'
import { virsh } from '../../../task-driver/virt/virsh.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { domainOf, qemuPids, tinyImage, vmJob } from '../../harness/vm-job.ts'
import { stopJob, waitForAllocs } from '../../harness/wasm-job.ts'

const BOOT_MS = 240_000
const MiB = 1048576

/** The real uid and gid of a process, from /proc/<pid>/status. */
async function ids(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return {
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]),
    gid: Number(/^Gid:\s+(\d+)/m.exec(status)![1]),
  }
}

/** The lowest memory limit over the process's cgroup and its ancestors, cgroup v1 or v2. */
async function memoryLimit(pid: number): Promise<{ cgroup: string; bytes: number }> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n')
  const v1 = lines.map((l) => /^\d+:([^:]*):(.*)$/.exec(l)).find((m) => m?.[1]!.split(',').includes('memory'))
  const [base, file, cgroup] = v1
    ? ['/sys/fs/cgroup/memory', 'memory.limit_in_bytes', v1[2]!]
    : ['/sys/fs/cgroup', 'memory.max', lines.find((l) => l.startsWith('0::'))!.slice(3)]
  let bytes = Infinity
  for (let dir = cgroup; ; dir = path.posix.dirname(dir)) {
    const text = (await readFile(path.join(base, dir, file), 'utf8').catch(() => 'max')).trim()
    if (text !== 'max' && Number(text) < 2 ** 62) bytes = Math.min(bytes, Number(text))
    if (dir === '/') break
  }
  return { cgroup, bytes }
}

/** Asks the domain's QEMU, over its monitor, to open a host file; what it answered. */
async function qemuOpens(uri: string, domain: string, file: string, readOnly: boolean): Promise<string> {
  const node = `attack${Math.random().toString(36).slice(2, 8)}`
  const cmd = {
    execute: 'blockdev-add',
    arguments: { driver: 'file', 'node-name': node, filename: file, 'read-only': readOnly },
  }
  return virsh(uri, ['qemu-monitor-command', domain, JSON.stringify(cmd)])
}

test("a VM's QEMU runs as its own unprivileged user in a memory-limited cgroup and cannot open root's files", async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const uri = libvirtUri(config.dataDir)
  const image = await tinyImage(env)
  const id = uniqueName('vm-confine')
  await nomad(addr, 'PUT', '/v1/jobs', vmJob(id, image, { memoryMB: 128, service: false }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running', BOOT_MS)
  const domain = (await domainOf(config, alloc!.ID))!
  assert.ok(domain, 'the task has a running domain')
  const [pid] = await qemuPids(domain)
  assert.ok(pid, `a QEMU process for ${domain}`)

  // Not root, and a uid no host account and no other program has.
  const qemu = await ids(pid!)
  assert.notEqual(qemu.uid, 0, 'QEMU uid')
  assert.notEqual(qemu.gid, 0, 'QEMU gid')
  const hostUids = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => Number(l.split(':')[2]))
  assert.ok(!hostUids.includes(qemu.uid), `uid ${qemu.uid} is not one of the host's accounts`)
  for (const entry of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    const other = await ids(Number(entry)).catch(() => undefined)
    if (other?.uid !== qemu.uid) continue
    const exe = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? ''
    assert.match(exe, /qemu-system/, `pid ${entry} runs as QEMU's uid ${qemu.uid}`)
  }

  // The memory hard limit: guest memory + TCG translation cache (TCG only) + QEMU's overhead.
  const xml = await virsh(uri, ['dumpxml', domain])
  const type = /<domain type='(qemu|kvm)'/.exec(xml)![1] as 'qemu' | 'kvm'
  const expected = memoryHardLimitMiB(128, type)
  assert.equal(expected, type === 'qemu' ? 128 + 32 + QEMU_OVERHEAD_MIB : 128 + QEMU_OVERHEAD_MIB)
  const limit = await memoryLimit(pid!)
  assert.equal(limit.bytes, expected * MiB, `memory limit of ${limit.cgroup}`)
  assert.match(limit.cgroup, new RegExp(`qemu-\\d+-${domain}`), "the domain's own cgroup, by libvirt")
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024
  t.diagnostic(
    `QEMU RSS ${(rss / MiB).toFixed(0)} MiB, limit ${expected} MiB (${type}), cgroup ${limit.cgroup}`,
  )
  assert.ok(rss < expected * MiB)
  // CPU weight: the task's cpu (100 MHz) as shares.
  assert.match(await virsh(uri, ['schedinfo', domain]), /^cpu_shares\s*:\s*100$/m)

  // A host file only root may read, in a dir anyone may list: QEMU may not open it.
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-confine-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755)
  const secret = path.join(dir, 'secret')
  await writeFile(secret, 'root only\n', { mode: 0o600 })
  assert.match(await qemuOpens(uri, domain, secret, true), /Could not open .*secret': Permission denied/)

  // The cached base image (shared by every VM of the image): readable, never writable.
  const kernel = /<kernel>([^<]+)<\/kernel>/.exec(xml)![1]!
  assert.equal((await stat(kernel)).uid, 0, 'the cached image stays root-owned')
  assert.match(await qemuOpens(uri, domain, kernel, false), /Permission denied/)
  assert.match(await qemuOpens(uri, domain, kernel, true), /"return":\{\}/)

  // The task's own files: the seed readable by QEMU's group only, not writable.
  const seed = /<source file='([^']+seed\.iso)'/.exec(xml)![1]!
  const s = await stat(seed)
  assert.deepEqual([s.uid, s.gid, s.mode & 0o777], [0, qemu.gid, 0o640])
  assert.match(await qemuOpens(uri, domain, seed, false), /Permission denied/)
})
