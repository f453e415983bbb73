import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { after, test } from 'node:test'
import pino from 'pino'
import { hostfwd, renderDomainXml, type DomainSpec } from '../../../task-driver/virt/domain-xml.ts'
import { VirtError } from '../../../task-driver/virt/errors.ts'
import { isLoopback, PortRelays, reserveInnerPorts } from '../../../task-driver/virt/port-relays.ts'

const log = pino({ level: 'silent' })
const open: Array<{ close(): void }> = []
after(() => {
  for (const o of open) o.close()
})

/** A backend on a free loopback port, standing in for QEMU's hostfwd listener. */
async function backend(onSocket: (s: net.Socket) => void): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = []
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s)
    onSocket(s)
    if (s.listenerCount('data') === 0) s.resume()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  open.push({ close: () => (server.close(), sockets.forEach((s) => s.destroy())) })
  return { port: (server.address() as net.AddressInfo).port, sockets }
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as net.AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

async function relayTo(innerPort: number, options = {}): Promise<{ relays: PortRelays; port: number }> {
  const port = await freePort()
  const relays = await PortRelays.start([{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 8080, innerPort }], log, options)
  open.push(relays)
  return { relays, port }
}

function connect(port: number): net.Socket {
  return net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
}

/** Everything a socket reads until its end (or close). */
function readAll(s: net.Socket): Promise<string> {
  let text = ''
  s.setEncoding('utf8')
  s.on('data', (d: string) => (text += d))
  return new Promise((resolve) => {
    s.once('end', () => resolve(text))
    s.once('close', () => resolve(text))
  })
}

const waitUntil = async (what: string, ok: () => boolean, ms = 3000) => {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

test('a relay pipes bytes both ways between its port and the inner port', async () => {
  const inner = await backend((s) => s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase())))
  const { port } = await relayTo(inner.port)
  const c = connect(port)
  c.setEncoding('utf8')
  c.write('hello guest')
  const [reply] = (await once(c, 'data')) as [string]
  assert.equal(reply, 'HELLO GUEST')
  c.write('x'.repeat(1 << 20))
  let got = 0
  for await (const chunk of c) {
    got += (chunk as string).length
    if (got >= 1 << 20) break
  }
  assert.equal(got, 1 << 20, 'a megabyte comes back whole')
})

test("a half-close passes through: the client's end reaches the inner side, which still answers", async () => {
  const inner = await backend((s) => {
    let text = ''
    s.on('data', (d: Buffer) => (text += d.toString()))
    s.on('end', () => s.end(`got ${text}`))
  })
  const { port } = await relayTo(inner.port)
  const c = connect(port)
  const reply = readAll(c)
  c.end('request')
  assert.equal(await reply, 'got request')
})

test("the inner side's half-close passes through too: the client reads the end and may still send", async () => {
  let received = ''
  let innerEnded = false
  const inner = await backend((s) => {
    s.on('data', (d: Buffer) => (received += d.toString()))
    s.on('end', () => (innerEnded = true))
    s.end('banner')
  })
  const { port } = await relayTo(inner.port)
  const c = connect(port)
  assert.equal(await readAll(c), 'banner')
  c.end('after the banner')
  await waitUntil('the inner side reads the rest and its end', () => innerEnded)
  assert.equal(received, 'after the banner')
})

test('close() stops listening and ends every connection; a failed inner side drops the client', async () => {
  const inner = await backend(() => {})
  const { relays, port } = await relayTo(inner.port)
  const c = connect(port)
  await once(c, 'connect')
  await waitUntil('the inner connection', () => inner.sockets.length === 1)
  const closed = readAll(c)
  relays.close()
  relays.close() // idempotent
  await closed
  await waitUntil('the inner side got the end', () => inner.sockets[0]!.readableEnded)
  const refused = connect(port)
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
  assert.equal(err.code, 'ECONNREFUSED')

  // Nothing on the inner port (QEMU not up yet): the client is closed, not left hanging.
  const { port: port2 } = await relayTo(await freePort())
  const d = connect(port2)
  assert.equal(await readAll(d), '')
})

test('past the connection cap a new connection is closed at once; under it again, one is carried', async () => {
  const inner = await backend((s) => {
    s.on('data', (d: Buffer) => s.write(d))
    s.on('end', () => s.end())
  })
  const { port } = await relayTo(inner.port, { maxConnections: 2 })
  const held = [connect(port), connect(port)]
  await waitUntil('two inner connections', () => inner.sockets.length === 2)
  const third = connect(port)
  third.on('error', () => {})
  third.write('ignored')
  assert.equal(await readAll(third), '')
  assert.equal(inner.sockets.length, 2, 'the refused one never reached the inner side')
  held[0]!.destroy()
  await waitUntil('the first inner connection ended', () => inner.sockets[0]!.readableEnded)
  const fourth = connect(port)
  fourth.setEncoding('utf8')
  fourth.write('ok')
  assert.deepEqual(await once(fourth, 'data'), ['ok'])
  fourth.destroy()
  held[1]!.destroy()
})

test('a connection idle longer than the idle timeout is dropped, both sides', async () => {
  const inner = await backend(() => {})
  const { port } = await relayTo(inner.port, { idleMs: 150 })
  const c = connect(port)
  const started = Date.now()
  await readAll(c)
  assert.ok(Date.now() - started >= 100, 'not before the timeout')
  await waitUntil('the inner side got the end', () => inner.sockets[0]?.readableEnded === true)
})

test('a relay that cannot listen is LEAN_ERR_VIRT_PORT_IN_USE naming the address, and leaves nothing listening', async () => {
  const taken = await backend(() => {})
  const free = await freePort()
  await assert.rejects(
    PortRelays.start(
      [
        { hostAddress: '127.0.0.1', hostPort: free, guestPort: 1, innerPort: 1 },
        { hostAddress: '127.0.0.1', hostPort: taken.port, guestPort: 2, innerPort: 2 },
      ],
      log,
    ),
    (err: unknown) => err instanceof VirtError && err.code === 'LEAN_ERR_VIRT_PORT_IN_USE' && err.message.includes(`127.0.0.1:${taken.port}`),
  )
  const probe = connect(free)
  const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException]
  assert.equal(err.code, 'ECONNREFUSED', 'the first listener was closed again')
})

test('a forward without an innerPort (a loopback one, forwarded by QEMU itself) gets no relay', async () => {
  const port = await freePort()
  const relays = await PortRelays.start([{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 8080 }], log)
  open.push(relays)
  const probe = connect(port)
  const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException]
  assert.equal(err.code, 'ECONNREFUSED', 'the port is left to QEMU')
})

test('isLoopback: 127/8, ::1 and no address are loopback; a node address is not', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', undefined]) assert.equal(isLoopback(a), true, String(a))
  for (const a of ['10.213.5.11', '0.0.0.0', '192.168.1.2']) assert.equal(isLoopback(a), false, a)
})

test('reserveInnerPorts: a TCP port on a non-loopback address gets a held loopback port; loopback and UDP stay direct', async () => {
  const { ports, release } = await reserveInnerPorts([
    { hostAddress: '10.0.0.5', hostPort: 24001, guestPort: 8080 },
    { hostAddress: '127.0.0.1', hostPort: 24002, guestPort: 22 },
    { hostAddress: '10.0.0.5', hostPort: 24003, guestPort: 53, protocol: 'udp' },
    { hostPort: 24004, guestPort: 80 },
  ])
  const innerPort = ports[0]!.innerPort!
  assert.ok(innerPort > 0)
  assert.deepEqual(ports, [
    { hostAddress: '10.0.0.5', hostPort: 24001, guestPort: 8080, innerPort },
    { hostAddress: '127.0.0.1', hostPort: 24002, guestPort: 22 },
    { hostAddress: '10.0.0.5', hostPort: 24003, guestPort: 53, protocol: 'udp' },
    { hostPort: 24004, guestPort: 80 },
  ])
  // Held until released: nobody else gets it meanwhile, QEMU can have it after.
  const s = net.createServer()
  s.listen({ host: '127.0.0.1', port: innerPort, exclusive: true })
  const [err] = (await once(s, 'error')) as [NodeJS.ErrnoException]
  assert.equal(err.code, 'EADDRINUSE')
  await release()
  s.listen({ host: '127.0.0.1', port: innerPort, exclusive: true })
  await once(s, 'listening')
  s.close()
})

test('the domain XML forwards 127.0.0.1:<inner> for a relayed port and the address itself for a loopback one', async () => {
  const { ports, release } = await reserveInnerPorts([
    { hostAddress: '10.213.5.11', hostPort: 24001, guestPort: 8080 },
    { hostAddress: '127.0.0.1', hostPort: 24002, guestPort: 22 },
  ])
  await release()
  const inner = ports[0]!.innerPort!
  assert.equal(hostfwd(ports[0]!), `tcp:127.0.0.1:${inner}-:8080`)
  assert.equal(hostfwd(ports[1]!), 'tcp:127.0.0.1:24002-:22')
  const spec: DomainSpec = {
    name: 'web-1',
    type: 'qemu',
    memoryMiB: 128,
    vcpus: 1,
    boot: { kind: 'kernel', kernel: '/s/k', initrd: '/s/i', cmdline: 'console=ttyS0' },
    consoleLog: '/w/console.log',
    ports,
  }
  const xml = renderDomainXml(spec)
  assert.ok(xml.includes(`hostfwd=tcp:127.0.0.1:${inner}-:8080,hostfwd=tcp:127.0.0.1:24002-:22`), xml)
  assert.ok(!xml.includes('10.213.5.11'), 'QEMU never listens on the node address itself')
  assert.throws(
    () => renderDomainXml({ ...spec, ports: [{ hostAddress: '10.0.0.5', hostPort: 1, guestPort: 53, protocol: 'udp', innerPort: 2 }] }),
    (err: unknown) => err instanceof VirtError && err.code === 'LEAN_ERR_VIRT_SPEC' && /innerPort/.test(err.message),
  )
  assert.throws(() => renderDomainXml({ ...spec, ports: [{ hostAddress: '10.0.0.5', hostPort: 1, guestPort: 2, innerPort: 0 }] }), /innerPort/)
})
