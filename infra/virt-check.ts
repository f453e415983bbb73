// `npm run virt:check`: exercises the libvirt layer end to end, leaving
// nothing behind. It starts a private libvirtd (the libvirt agent's own start
// logic, in a temporary dir), probes the accelerator, boots the tiny image
// (`npm run build:images`) as a transient domain with a NoCloud seed naming a
// hostname and a host port forward to the guest's HTTP port, waits for READY
// on the console, fetches the page through the forward, checks QEMU's
// confinement (an unprivileged uid and gid, the memory limit of its cgroup,
// a root-only file it cannot open), measures its RSS, destroys the domain,
// removes its seed and files and stops the daemon. Prints every duration it
// measured.
//
//   npm run virt:check                      # its own libvirtd in a temporary dir
//   LEAN_VIRT_URI=qemu:///… npm run virt:check   # an already running libvirtd instead
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access, chmod, copyFile, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  libvirtdSpawnSpec,
  libvirtHealth,
  libvirtUri,
  prepareLibvirt,
} from './cloud/agents/libvirt.ts'
import { parseArgs } from './images/args.ts'
import { imagePaths } from './images/paths.ts'
import { storePath } from './images/store.ts'
import { buildTiny } from './images/tiny.ts'
import { freePort } from './images/verify.ts'
import { probeAccelerator } from '../task-driver/virt/accelerator.ts'
import { memoryHardLimitMiB, qemuIdentity } from '../task-driver/virt/confinement.ts'
import { consoleTail, waitForConsoleLine } from '../task-driver/virt/console.ts'
import { createDomain, destroyDomain, domainState, qemuPid, processRss } from '../task-driver/virt/domain.ts'
import { renderDomainXml } from '../task-driver/virt/domain-xml.ts'
import { VirtError } from '../task-driver/virt/errors.ts'
import { removeSeed, writeSeed } from '../task-driver/virt/seed.ts'
import { memoryLimitOf, processIds } from '../task-driver/virt/process-limits.ts'
import { parseDomstats, virsh } from '../task-driver/virt/virsh.ts'

const READY_TIMEOUT_MS = 180_000
const say = (m: string) => console.log(`virt:check: ${m}`)
const since = (t: number) => Date.now() - t
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`

interface Daemon {
  readonly uri: string
  readonly stop: () => Promise<void>
}

/** Starts a private libvirtd in a fresh temporary dir; measures the socket and the first connection. */
async function startDaemon(figures: Array<[string, string]>): Promise<Daemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lean-virt-'))
  const paths = await prepareLibvirt(dir)
  const spec = libvirtdSpawnSpec(dir)
  const log = await open(path.join(dir, 'libvirtd.log'), 'a')
  const started = Date.now()
  const child: ChildProcess = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    stdio: ['ignore', log.fd, log.fd],
  })
  await log.close()
  let exited: number | null | undefined
  const exit = new Promise<void>((resolve) => child.once('exit', (code) => ((exited = code), resolve())))
  child.once('error', () => {})
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM')
      await Promise.race([exit, sleep(15_000, undefined, { ref: false })])
      if (exited === undefined) {
        child.kill('SIGKILL')
        await exit
      }
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    say(`starting a private libvirtd (pid ${child.pid}) in ${dir}`)
    for (;;) {
      if (exited !== undefined) {
        const tail = (await consoleTail(path.join(dir, 'libvirtd.log'), 15)).trim()
        throw new VirtError(
          'LEAN_ERR_VIRT_CONNECT',
          `libvirtd exited (code ${exited}) while starting:\n${tail}`,
        )
      }
      if (
        await access(paths.socket).then(
          () => true,
          () => false,
        )
      )
        break
      if (since(started) > 30_000)
        throw new VirtError('LEAN_ERR_VIRT_TIMEOUT', `libvirtd made no socket at ${paths.socket} within 30 s`)
      await sleep(20)
    }
    figures.push(['libvirtd start → socket', secs(since(started))])
    const connecting = Date.now()
    say('first connection (libvirtd probes QEMU now; ~10 s on two cores)…')
    const version = await libvirtHealth(dir, 120_000)
    figures.push(['first virsh connect (version)', secs(since(connecting))])
    const again = Date.now()
    await libvirtHealth(dir)
    figures.push(['second virsh connect (version)', secs(since(again))])
    say(version)
    return { uri: libvirtUri(dir), stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** QEMU's uid/gid are not root's, its cgroup holds the limit, and it cannot open a root-only file. */
async function checkConfinement(
  uri: string,
  name: string,
  pid: number,
  limitMiB: number,
  work: string,
  figures: Array<[string, string]>,
): Promise<void> {
  const fail = (why: string) => new VirtError('LEAN_ERR_VIRT_CONFINE', `QEMU of ${name} (pid ${pid}): ${why}`)
  const ids = await processIds(pid)
  if (!ids || ids.uid === 0 || ids.gid === 0) throw fail(`runs as uid ${ids?.uid}, gid ${ids?.gid}`)
  figures.push(['QEMU uid / gid / groups', `${ids.uid} / ${ids.gid} / ${ids.groups.join(',')}`])
  const limit = await memoryLimitOf(pid)
  if (limit?.bytes !== limitMiB * 1048576)
    throw fail(`its cgroup ${limit?.cgroup} has memory limit ${limit?.bytes ?? 'none'}, not ${limitMiB} MiB`)
  figures.push([`memory limit (cgroup v${limit.version})`, `${mib(limit.bytes)} in ${limit.file}`])
  // What a QEMU a guest took over would try: open a host file through its own block layer.
  const secret = path.join(work, 'root-only')
  await writeFile(secret, 'root only\n', { mode: 0o600 })
  const said = await virsh(uri, [
    'qemu-monitor-command',
    name,
    JSON.stringify({
      execute: 'blockdev-add',
      arguments: { driver: 'file', 'node-name': 'lean-check-secret', filename: secret, 'read-only': true },
    }),
  ])
  if (!/Permission denied/.test(said))
    throw fail(`opening a root-only 0600 file did not fail: ${said.trim()}`)
  figures.push(['QEMU opens a root-only 0600 file', 'Permission denied'])
}

async function main(): Promise<void> {
  const figures: Array<[string, string]> = []
  const checkStarted = Date.now()
  const images = imagePaths()
  say('the tiny image (built by `npm run build:images`; a cache hit is a file read)')
  const image = await buildTiny(images, parseArgs(['tiny', '--no-upload']))
  const m = image.manifest
  if (m.boot.kind !== 'kernel')
    throw new VirtError('LEAN_ERR_VIRT_SPEC', `the tiny image ${image.sha256} is not a kernel image`)
  const storeKernel = storePath(images, m.boot.kernel)
  const storeInitrd = storePath(images, m.boot.initrd)
  const readyLine = m.guest.readyLine ?? 'READY'
  const guestPort = m.guest.httpPort ?? 8080
  const memoryMiB = Math.max(m.guest.minMemoryMiB, 128)
  say(`image tiny sha256:${image.sha256}`)

  const daemon = process.env.LEAN_VIRT_URI
    ? { uri: process.env.LEAN_VIRT_URI, stop: async () => {} }
    : await startDaemon(figures)
  const work = await mkdtemp(path.join(os.tmpdir(), 'lean-virt-vm-'))
  const name = `lean-check-${randomBytes(4).toString('hex')}`
  let created = false
  try {
    // QEMU is not root: it reads the boot files from a dir it may pass (the store may be under a 0700 home).
    await chmod(work, 0o711)
    const kernel = path.join(work, 'vmlinuz')
    const initrd = path.join(work, 'initrd')
    await copyFile(storeKernel, kernel)
    await copyFile(storeInitrd, initrd)
    for (const f of [kernel, initrd]) await chmod(f, 0o644)
    const qemu = await qemuIdentity(daemon.uri)
    say(`QEMU runs as uid ${qemu.uid}, gid ${qemu.gid} (libvirt's DAC label)`)
    const probe = await probeAccelerator({
      uri: daemon.uri,
      kernel,
      initrd,
      cmdline: m.boot.cmdline,
      readyLine,
      memoryMiB,
      workDir: work,
      progress: say,
    })
    figures.push([`accelerator probe → ${probe.type === 'kvm' ? 'kvm' : 'tcg'}`, secs(probe.ms)])
    say(`accelerator: ${probe.type} (${probe.reason})`)

    const hostname = `${name}.example`
    const seedDir = path.join(work, 'seed')
    const t = Date.now()
    const seedIso = await writeSeed(seedDir, { instanceId: name, hostname, userData: '#cloud-config\n' })
    figures.push(['seed (cloud-localds)', secs(since(t))])
    const hostPort = await freePort()
    const consoleLog = path.join(work, 'console.log')
    const xml = renderDomainXml({
      name,
      type: probe.type,
      memoryMiB,
      vcpus: 1,
      cpuShares: 100,
      boot: { kind: 'kernel', kernel, initrd, cmdline: m.boot.cmdline },
      seedIso,
      consoleLog,
      ports: [{ hostPort, guestPort }],
      description: 'npm run virt:check',
    })

    const creating = Date.now()
    say(`creating ${name} (${probe.type}, ${memoryMiB} MiB, 127.0.0.1:${hostPort} → guest ${guestPort})`)
    const limitMiB = memoryHardLimitMiB(memoryMiB, probe.type)
    await createDomain(daemon.uri, xml, path.join(work, 'domain.xml'), { memoryHardLimitMiB: limitMiB })
    created = true
    const createMs = since(creating)
    figures.push(['virsh create', secs(createMs)])
    try {
      await waitForConsoleLine(consoleLog, readyLine, {
        timeoutMs: READY_TIMEOUT_MS,
        onProgress: (w) => say(`${name}: booting, no ${readyLine} yet after ${Math.round(w / 1000)} s`),
        abort: async () =>
          (await domainState(daemon.uri, name)) === 'running' ? undefined : 'the domain stopped',
      })
    } catch (err) {
      throw new VirtError(
        'LEAN_ERR_VIRT_BOOT',
        `${(err as Error).message}\nlast console lines:\n${await consoleTail(consoleLog)}`,
      )
    }
    figures.push([`create → ${readyLine} on the console`, secs(since(creating))])

    const fetching = Date.now()
    let page = ''
    let status = 0
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(5000) })
        status = res.status
        page = await res.text()
        if (status === 200 && page.includes(hostname)) break
      } catch (err) {
        page = (err as Error).message
      }
      if (i >= 40)
        throw new VirtError(
          'LEAN_ERR_VIRT_BOOT',
          `127.0.0.1:${hostPort} did not serve a page naming ${hostname}: HTTP ${status} ${page.slice(0, 200)}`,
        )
      await sleep(250)
    }
    figures.push([`HTTP GET via 127.0.0.1:${hostPort} (names ${hostname})`, secs(since(fetching))])
    say(`HTTP ${status}: ${/<h1>([^<]*)<\/h1>/.exec(page)?.[1] ?? page.slice(0, 80)}`)

    const pid = await qemuPid(name)
    if (pid === undefined) throw new VirtError('LEAN_ERR_VIRT_BOOT', `no QEMU process for ${name}`)
    await checkConfinement(daemon.uri, name, pid, limitMiB, work, figures)
    const rss = await processRss(pid)
    if (rss !== undefined)
      figures.push([`QEMU RSS (pid ${pid}, ${memoryMiB} MiB guest, ${probe.type})`, mib(rss)])
    const stats = parseDomstats(await virsh(daemon.uri, ['domstats', '--cpu-total', '--balloon', name])).get(
      name,
    )
    if (stats?.['cpu.time'])
      figures.push(['domstats cpu.time at READY+HTTP', secs(Number(stats['cpu.time']) / 1e6)])
    if (stats?.['balloon.rss'])
      figures.push(['domstats balloon.rss', mib(Number(stats['balloon.rss']) * 1024)])

    const destroying = Date.now()
    await destroyDomain(daemon.uri, name)
    created = false
    figures.push(['virsh destroy', secs(since(destroying))])
    if (pid !== undefined && (await processRss(pid)) !== undefined) {
      await sleep(500)
      if ((await processRss(pid)) !== undefined)
        throw new VirtError('LEAN_ERR_VIRT_COMMAND', `QEMU (pid ${pid}) still runs after destroy`)
    }
    if ((await domainState(daemon.uri, name)) !== undefined)
      throw new VirtError('LEAN_ERR_VIRT_COMMAND', `${name} is still known to libvirt after destroy`)
    await removeSeed(seedDir)
  } finally {
    if (created)
      await destroyDomain(daemon.uri, name).catch((err: Error) =>
        say(`could not destroy ${name}: ${err.message}`),
      )
    await rm(work, { recursive: true, force: true })
    const stopping = Date.now()
    await daemon.stop()
    if (!process.env.LEAN_VIRT_URI) figures.push(['libvirtd stop + remove its dir', secs(since(stopping))])
  }
  const leftovers = (await readdir(os.tmpdir())).filter((f) => f.startsWith('lean-virt-'))
  if (leftovers.length > 0)
    say(`note: other lean-virt-* dirs in ${os.tmpdir()} (not this run's): ${leftovers.join(', ')}`)
  figures.push(['whole check', secs(since(checkStarted))])
  const width = Math.max(...figures.map(([k]) => k.length))
  say('ok, nothing left behind. Figures:')
  for (const [k, v] of figures) console.log(`  ${k.padEnd(width)}  ${v}`)
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string }
  console.error(`virt:check failed${e.code ? ` [${e.code}]` : ''}: ${e.message}`)
  process.exit(1)
})
