// Boots a built image under QEMU, the way the driver will (software
// emulation, TCG, unless told otherwise; user-mode networking with a host
// port forward; the NoCloud seed as a cdrom), waits for its ready line on the
// serial console, checks its service through the forwarded port, then presses
// the ACPI power button and waits for the guest to power off.
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ImageError } from './errors.ts'
import type { ImageManifest } from '../../ground/image-manifest.ts'
import type { ImagePaths } from './paths.ts'
import { run } from './run.ts'
import { writeSeed } from './seed.ts'
import { storePath } from './store.ts'

export interface VerifyResult {
  /** From starting QEMU to the ready line on the serial console. */
  readonly readyMs: number
  /** What answered on the forwarded port: the HTTP status and page title, or the ssh banner. */
  readonly service: string
  readonly serviceMs: number
  /** From the power button press to QEMU's exit; undefined if the guest ignored it. */
  readonly powerOffMs: number | undefined
  readonly serialLog: string
}

/** The QEMU command line for an image (without `nice`): pure, so it can be checked. */
export function qemuArgs(
  m: ImageManifest,
  o: {
    files: { kernel?: string; initrd?: string; disk?: string }
    seedIso: string
    hostPort: number
    guestPort: number
    monitor: string
    accel?: string
  },
): string[] {
  const memory = Math.max(m.guest.minMemoryMiB, 128)
  const args = [
    ['-machine', 'pc'],
    // TCG's translation cache defaults to 1 GiB per VM; 32 MiB is plenty for these guests.
    ['-accel', o.accel ?? 'tcg,tb-size=32'],
    ['-m', String(memory)],
    ['-smp', '1'],
    ['-nodefaults', '-display', 'none', '-no-reboot'],
    ['-serial', 'stdio'],
    ['-monitor', `unix:${o.monitor},server=on,wait=off`],
    ['-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${o.hostPort}-:${o.guestPort}`],
    ['-device', 'virtio-net-pci,netdev=net0'],
    ['-drive', `file=${o.seedIso},media=cdrom,if=ide,readonly=on`],
  ].flat()
  if (m.boot.kind === 'kernel') {
    if (!o.files.kernel || !o.files.initrd)
      throw new Error('a kernel image needs its kernel and initrd files')
    args.push('-kernel', o.files.kernel, '-initrd', o.files.initrd, '-append', m.boot.cmdline)
  } else {
    if (!o.files.disk) throw new Error('a disk image needs its disk file')
    args.push('-drive', `file=${o.files.disk},if=virtio,format=qcow2`)
  }
  return args
}

/** A free TCP port on loopback, for the host side of the forward. */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function verifyImage(
  paths: ImagePaths,
  image: { name: string; sha256: string; manifest: ImageManifest },
  timeoutMs: number,
): Promise<VerifyResult> {
  const work = path.join(paths.work, `verify-${image.name}-${process.pid}`)
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  try {
    return await bootAndCheck(paths, image, timeoutMs, work)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

async function bootAndCheck(
  paths: ImagePaths,
  image: { name: string; sha256: string; manifest: ImageManifest },
  timeoutMs: number,
  work: string,
): Promise<VerifyResult> {
  const m = image.manifest
  await mkdir(paths.logs, { recursive: true })
  const serialLog = path.join(paths.logs, `verify-${image.name}.serial.log`)
  const hostname = `${image.name}-verify`
  const isDisk = m.boot.kind === 'disk'
  const guestPort = isDisk ? 22 : (m.guest.httpPort ?? 8080)
  const readyLine = m.guest.readyLine ?? 'READY'
  // The Debian image has no ready line of its own: its user-data prints one when cloud-init has run.
  const userData = isDisk
    ? `#cloud-config\nruncmd:\n  - [sh, -c, 'echo ${readyLine} > /dev/ttyS0']\n`
    : '#cloud-config\n'
  const seedIso = await writeSeed(path.join(work, 'seed'), {
    instanceId: `verify-${Date.now()}`,
    hostname,
    userData,
  })
  const files: { kernel?: string; initrd?: string; disk?: string } = {}
  if (m.boot.kind === 'kernel') {
    files.kernel = storePath(paths, m.boot.kernel)
    files.initrd = storePath(paths, m.boot.initrd)
  } else {
    // Copy-on-write: the guest writes to an overlay, never to the stored image.
    files.disk = path.join(work, 'overlay.qcow2')
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      storePath(paths, m.boot.disk),
      '-F',
      'qcow2',
      files.disk,
      '10G',
    ])
  }
  const hostPort = await freePort()
  const monitor = path.join(work, 'monitor.sock')
  const args = qemuArgs(m, { files, seedIso, hostPort, guestPort, monitor })

  const started = Date.now()
  const qemu = spawn('nice', ['-n', '19', 'qemu-system-x86_64', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = createWriteStream(serialLog)
  let exited: number | null | undefined
  const exit = new Promise<void>((resolve) => qemu.once('close', (code) => ((exited = code), resolve())))
  qemu.once('error', () => {})
  let stderr = ''
  qemu.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  let buffered = ''
  let readyAt: number | undefined
  qemu.stdout.on('data', (b: Buffer) => {
    log.write(b)
    buffered += b.toString('latin1')
    const lines = buffered.split(/\r?\n/)
    buffered = lines.pop()!
    if (readyAt === undefined && lines.some((l) => l.trim() === readyLine)) readyAt = Date.now()
  })
  const fail = async (why: string): Promise<never> => {
    qemu.kill('SIGKILL')
    await exit
    log.end()
    const tail = (await readFile(serialLog, 'utf8').catch(() => ''))
      .trimEnd()
      .split('\n')
      .slice(-20)
      .join('\n')
    throw new ImageError(
      `${image.name} (sha256:${image.sha256}) ${why}.${stderr ? `\nqemu said: ${stderr.trim()}` : ''}\nlast serial lines (${serialLog}):\n${tail}`,
    )
  }

  try {
    let lastProgress = started
    while (readyAt === undefined) {
      if (exited !== undefined) {
        if (exited === 127)
          throw new ImageError(
            'qemu-system-x86_64 is not installed: install the Debian package qemu-system-x86 (`bash infra/prerequisites.sh`)',
          )
        await fail(`stopped before printing ${readyLine} (qemu exit code ${exited})`)
      }
      if (Date.now() - started > timeoutMs)
        await fail(`printed no ${readyLine} on its serial console within ${timeoutMs / 1000} s`)
      if (Date.now() - lastProgress >= 15_000) {
        lastProgress = Date.now()
        console.log(`  ${image.name}: booting under TCG, ${Math.round((Date.now() - started) / 1000)} s…`)
      }
      await sleep(50)
    }
    const readyMs = readyAt - started
    const serviceStarted = Date.now()
    const service = isDisk ? await sshBanner(hostPort) : await httpPage(hostPort, hostname)
    const serviceMs = Date.now() - serviceStarted
    if (!service.ok) await fail(`was ready but its service on port ${guestPort} failed: ${service.text}`)

    // The power button (what `virsh shutdown` presses): the guest should power off by itself.
    const pressed = Date.now()
    await monitorCommand(monitor, 'system_powerdown')
    const off = await Promise.race([
      exit.then(() => true),
      sleep(isDisk ? 60_000 : 15_000, undefined, { ref: false }).then(() => false),
    ])
    const powerOffMs = off ? Date.now() - pressed : undefined
    if (!off) {
      qemu.kill('SIGKILL')
      await exit
    }
    log.end()
    return { readyMs, service: service.text, serviceMs, powerOffMs, serialLog }
  } finally {
    if (exited === undefined) {
      qemu.kill('SIGKILL')
      await exit
    }
  }
}

/** GET / through the forward: 200 and a page naming the hostname the seed gave. */
async function httpPage(port: number, hostname: string): Promise<{ ok: boolean; text: string }> {
  let last = ''
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })
      const body = await res.text()
      const title = /<title>([^<]*)<\/title>/.exec(body)?.[1] ?? ''
      if (res.status === 200 && body.includes(hostname))
        return { ok: true, text: `HTTP ${res.status}, page names '${title}'` }
      last = `HTTP ${res.status}, page does not name ${hostname}: ${body.slice(0, 200)}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(250)
  }
  return { ok: false, text: last }
}

/** The first line an ssh server sends (`SSH-2.0-OpenSSH_...`). */
async function sshBanner(port: number): Promise<{ ok: boolean; text: string }> {
  let last = ''
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1')
        socket.setTimeout(10_000, () => socket.destroy(new Error('no banner within 10 s')))
        socket.once('data', (b) => (resolve(b.toString('latin1').split(/\r?\n/)[0] ?? ''), socket.destroy()))
        socket.once('error', reject)
        socket.once('close', () => reject(new Error('closed without a banner')))
      })
      if (line.startsWith('SSH-')) return { ok: true, text: line }
      last = `not an ssh banner: ${line}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(1000)
  }
  return { ok: false, text: last }
}

async function monitorCommand(socketPath: string, command: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(socketPath)
    socket.once('error', reject)
    socket.once('connect', () => socket.end(`${command}\n`, () => resolve()))
  })
}
