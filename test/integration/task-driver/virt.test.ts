// The virt driver on the real cloud: Nomad → our plugin → the cloud's libvirtd
// → QEMU (TCG here) booting the tiny image, fetched from S3 by digest.
import assert from 'node:assert/strict'
import { access, readdir } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { layout } from '../../../infra/cloud/config.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { restartAgent, useCloud } from '../../harness/cloud.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { domainOf, qemuPids, runningDomains, tinyImage, vmJob } from '../../harness/vm-job.ts'
import { allocations, stopJob, waitForAllocs, type Alloc } from '../../harness/wasm-job.ts'

// A boot under TCG on a loaded two-core machine, after fetching the image.
const BOOT_MS = 240_000

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  )
const vmEvents = (alloc: Alloc) =>
  (alloc.TaskStates?.vm?.Events ?? [])
    .map((e) => `${e.Type}: ${e.DisplayMessage} ${e.DriverError}`)
    .join('\n')

async function page(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return `${res.status} ${await res.text()}`
}

test('a VM boots the tiny image by digest, answers through Consul SRV, logs its console, reports stats, and leaves nothing after stop', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const image = await tinyImage(env)
  const id = uniqueName('vm')
  const hostname = `${id}.test`
  await nomad(addr, 'PUT', '/v1/jobs', vmJob(id, image, { config: { hostname } }))
  t.after(() => stopJob(addr, id).catch(() => {}))

  const [alloc] = await waitForAllocs(addr, id, 1, 'running', BOOT_MS)
  const events = vmEvents((await allocations(addr, id))[0]!)
  assert.match(
    events,
    /VM lc-[0-9a-f]{8}-vm \((tcg|kvm)\) READY on its console in [\d.]+ s.*ports 127\.0\.0\.1:\d+→8080/s,
    events,
  )

  const url = await serviceUrl(env.CONSUL_DNS_ADDR!, id, 120_000)
  const body = await waitFor(
    async () => {
      const text = await page(url).catch(() => '')
      return text.startsWith('200') && text.includes(hostname) ? text : false
    },
    { timeoutMs: 60_000, what: `${url} to serve the page naming ${hostname}` },
  )
  assert.match(body, new RegExp(hostname.replace(/\./g, '\\.')))

  const logs = await waitFor(
    async () => {
      const res = await fetch(
        `${addr}/v1/client/fs/logs/${alloc!.ID}?task=vm&type=stdout&origin=start&plain=true`,
        { headers: nomadHeaders() },
      )
      const text = await res.text()
      return /^READY\r?$/m.test(text) ? text : false
    },
    { timeoutMs: 30_000, what: "the serial console in the task's stdout" },
  )
  assert.match(logs, /udhcpc: lease of 10\.0\.2\.\d+ obtained/, "the guest's boot lines are there too")

  const rss = await waitFor(
    async () => {
      const stats = await nomad<{ ResourceUsage?: { MemoryStats?: { RSS?: number } } }>(
        addr,
        'GET',
        `/v1/client/allocation/${alloc!.ID}/stats`,
      )
      const bytes = stats.ResourceUsage?.MemoryStats?.RSS ?? 0
      return bytes > 0 ? bytes : false
    },
    { timeoutMs: 30_000, what: "task stats with the VM's RSS" },
  )
  assert.ok(rss > 32 * 1024 ** 2, `the RSS reported is QEMU's (${rss} bytes)`)

  const domain = await domainOf(config, alloc!.ID)
  assert.ok(domain, "the domain runs in the cloud's libvirtd")
  const taskDir = path.join(layout(config).nomadData, 'alloc', alloc!.ID, 'vm', 'virt')
  assert.ok(await exists(path.join(taskDir, 'seed', 'seed.iso')), 'the task has its own NoCloud seed')

  await stopJob(addr, id)
  await waitFor(async () => (await domainOf(config, alloc!.ID)) === undefined && !(await exists(taskDir)), {
    timeoutMs: 90_000,
    what: "the domain and the task's files to be gone after the job stops",
  })
  assert.deepEqual(await qemuPids(domain), [])
})

test('a VM whose QEMU is killed is restarted by Nomad and serves again', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const image = await tinyImage(env)
  const id = uniqueName('vm-kill')
  await nomad(addr, 'PUT', '/v1/jobs', vmJob(id, image, { restarts: 2, service: false }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running', BOOT_MS)
  const domain = (await domainOf(config, alloc!.ID))!
  const [pid] = await qemuPids(domain)
  assert.ok(pid, 'the VM has a QEMU process')
  process.kill(pid, 'SIGKILL')

  const restarted = await waitFor(
    async () => {
      const [a] = await allocations(addr, id)
      const text = vmEvents(a!)
      const pids = await qemuPids(domain)
      return /Restarting/.test(text) &&
        /READY on its console[\s\S]*READY on its console/.test(text) &&
        pids.length === 1 &&
        pids[0] !== pid
        ? text
        : false
    },
    { timeoutMs: BOOT_MS, what: 'Nomad to restart the killed VM and the VM to boot again' },
  )
  assert.match(restarted, /its QEMU process \(pid \d+\) ended/, 'the driver said why the task ended')
  const [again] = await allocations(addr, id)
  const port = again!.AllocatedResources!.Shared!.Ports!.find((p) => p.Label === 'http')!
  assert.match(await page(`http://${port.HostIP}:${port.Value}/`), /^200 /)
})

test('a Nomad agent restart leaves the VM running; the new agent recovers it instead of starting another', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const image = await tinyImage(env)
  const id = uniqueName('vm-recover')
  await nomad(addr, 'PUT', '/v1/jobs', vmJob(id, image, { service: false }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running', BOOT_MS)
  const domain = (await domainOf(config, alloc!.ID))!
  const before = await qemuPids(domain)
  assert.equal(before.length, 1)

  await restartAgent('nomad')
  await waitForAllocs(addr, id, 1, 'running', 120_000)
  // Recovered: the same QEMU, one domain for the allocation, and the task never restarted.
  assert.deepEqual(await qemuPids(domain), before)
  assert.deepEqual(
    (await runningDomains(config)).filter((d) => d.startsWith(`lc-${alloc!.ID.slice(0, 8)}-`)),
    [domain],
  )
  const [after] = await allocations(addr, id)
  assert.equal(after!.ID, alloc!.ID)
  assert.doesNotMatch(vmEvents(after!), /Restarting/)

  // The recovered handle still controls the VM: stopping the job powers it off.
  await stopJob(addr, id)
  await waitFor(async () => (await qemuPids(domain)).length === 0, {
    timeoutMs: 120_000,
    what: 'the recovered VM to stop with its job',
  })
})

async function expectStartFailure(config: Record<string, unknown>, sha256: string, message: RegExp) {
  const { config: cloud, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('vm-bad')
  const before = await runningDomains(cloud)
  await nomad(addr, 'PUT', '/v1/jobs', vmJob(id, { sha256 }, { config, service: false }))
  try {
    const [alloc] = await waitForAllocs(addr, id, 1, 'failed', 120_000)
    const text = await waitFor(
      async () => {
        const e = vmEvents((await allocations(addr, id))[0]!)
        return message.test(e) ? e : false
      },
      { timeoutMs: 30_000, what: `a task event matching ${message}` },
    )
    assert.match(text, message)
    const started = (await runningDomains(cloud)).filter((d) => !before.includes(d))
    assert.deepEqual(started, [], 'nothing was started')
    const allocDir = path.join(layout(cloud).nomadData, 'alloc', alloc!.ID, 'vm')
    assert.ok(
      !(await readdir(allocDir).catch(() => [] as string[])).includes('virt'),
      'and nothing of the task is left on disk',
    )
  } finally {
    await stopJob(addr, id).catch(() => {})
  }
}

test('a wrong image digest fails the task with a clear event and starts nothing', async () => {
  const { env } = await useCloud()
  const image = await tinyImage(env)
  // The real manifest, asked for under another digest.
  const wrong = `${image.sha256.slice(0, 63)}${image.sha256.endsWith('0') ? '1' : '0'}`
  await expectStartFailure(
    { image: `s3://artifacts/images/${image.sha256}.json` },
    wrong,
    /image manifest s3:\/\/artifacts\/images\/[0-9a-f]{64}\.json has sha256 [0-9a-f]{64}, but it is named by [0-9a-f]{64}.*LEAN_ERR_VIRT_IMAGE_DIGEST/s,
  )
})

test('an image path outside the allow-list fails the task with a clear event', async () => {
  await expectStartFailure(
    { image: '/etc/passwd' },
    'a'.repeat(64),
    /image \/etc\/passwd is outside the directories the virt plugin allows.*LEAN_ERR_VIRT_IMAGE_PATH/s,
  )
})

test('an unknown config option fails validation on the client, naming it', async () => {
  const { env } = await useCloud()
  const image = await tinyImage(env)
  await expectStartFailure({ colour: 'red' }, image.sha256, /No argument or block type is named "colour"/)
})
