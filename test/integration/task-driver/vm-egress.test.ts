// A VM's egress grant: the guest reaches the Consul services its task config
// names, at `<service>.service.consul` port 80 (an /etc/hosts entry the driver
// adds, a guestfwd to a proxy of the plugin), and nothing else: not a service
// it was not granted, not the other grant addresses, not the host (10.0.2.2).
// The two services are HTTP servers of this test, registered in the cloud's
// Consul, so the test sees every connection that reaches them.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { libvirtUri } from '../../../infra/cloud/agents/libvirt.ts'
import { virsh } from '../../../task-driver/virt/virsh.ts'
import { restartAgent, stopAgent, useCloud } from '../../harness/cloud.ts'
import { consul } from '../../harness/consul-http.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { domainOf, qemuPids, tinyImage, vmJob } from '../../harness/vm-job.ts'
import { stopJob, waitForAllocs } from '../../harness/wasm-job.ts'

// A boot under TCG on a loaded two-core machine, after fetching the image.
const BOOT_MS = 240_000

/** An HTTP server on the cloud's host that answers with its name and counts who reached it. */
async function namedServer(
  host: string,
  name: string,
): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0
  const server = createServer((_req, res) => {
    hits += 1
    res.end(`answer from ${name}\n`)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits }
}

test('a VM granted one service reaches it by name and reaches neither an ungranted service nor the host', async (t) => {
  const { config, env } = await useCloud()
  const consulAddr = env.CONSUL_HTTP_ADDR!
  const image = await tinyImage(env)
  const granted = uniqueName('eg-granted')
  const other = uniqueName('eg-other')
  const servers = {
    [granted]: await namedServer(config.host, granted),
    [other]: await namedServer(config.host, other),
  }
  for (const [name, s] of Object.entries(servers)) {
    t.after(() => s.server.close())
    await consul(consulAddr, 'PUT', '/v1/agent/service/register', {
      Name: name,
      ID: name,
      Address: config.host,
      Port: s.port,
    })
    t.after(() => consul(consulAddr, 'PUT', `/v1/agent/service/deregister/${name}`).catch(() => {}))
    await serviceUrl(env.CONSUL_DNS_ADDR!, name, 60_000)
  }
  const g = servers[granted]!
  const o = servers[other]!

  // Each probe prints one PROBE line. The tiny image's static busybox resolves no names, so the
  // guest reads the granted name's address from its /etc/hosts itself; nc gets no close from the
  // host side (egress.ts), so it is stopped after a while.
  const get = (name: string) => `printf 'GET / HTTP/1.0\\r\\nHost: ${name}.service.consul\\r\\n\\r\\n'`
  const lookup = (name: string) => `$(grep ' ${name}.service.consul$' /etc/hosts | cut -d' ' -f1)`
  const reach = (what: string, addr: string, port: number) =>
    `if nc -w 3 ${addr} ${port} </dev/null; then echo PROBE ${what} open; else echo PROBE ${what} closed; fi`
  const cmds = [
    `echo "PROBE hosts ${granted}=${lookup(granted)} ${other}=${lookup(other)}"`,
    `a=${lookup(granted)}; ${get(granted)} | nc $a 80 & sleep 5; kill $! 2>/dev/null; echo PROBE granted asked`,
    // The other service: through the granted address with its Host header, at the next grant address, on the host.
    `sleep 2; ${get(other)} | nc 10.0.2.100 80 & sleep 5; kill $! 2>/dev/null; echo PROBE other-by-host asked`,
    reach('next-grant-address', '10.0.2.101', 80),
    reach('granted-address-other-port', '10.0.2.100', 8080),
    reach('other-on-host', '10.0.2.2', o.port),
    reach('granted-on-host', '10.0.2.2', g.port),
    reach('consul-on-host', '10.0.2.2', config.consul.httpPort),
  ]
  const id = uniqueName('vm-egress')
  await nomad(env.NOMAD_ADDR!, 'PUT', '/v1/jobs', vmJob(id, image, { config: { cmds, egress: [granted] } }))
  t.after(() => stopJob(env.NOMAD_ADDR!, id).catch(() => {}))

  const [alloc] = await waitForAllocs(env.NOMAD_ADDR!, id, 1, 'running', BOOT_MS)
  const consoleText = await waitFor(
    async () => {
      const res = await fetch(
        `${env.NOMAD_ADDR}/v1/client/fs/logs/${alloc!.ID}?task=vm&type=stdout&origin=start&plain=true`,
        { headers: nomadHeaders() },
      )
      const text = await res.text()
      return /runcmd: done/.test(text) ? text : false
    },
    { timeoutMs: 180_000, intervalMs: 500, what: "the guest's probes on its console" },
  )
  const tail = consoleText.slice(-3000)
  // Only the granted service has a name in the guest, at the first grant address.
  assert.match(
    consoleText,
    new RegExp(`runcmd> PROBE hosts ${granted}=10\\.0\\.2\\.100 ${other}= *\\r?\\n`),
    tail,
  )
  // The granted service answered the guest, through the proxy; the other one was never reached.
  assert.match(consoleText, new RegExp(`runcmd> answer from ${granted}`), tail)
  assert.ok(g.hits() >= 2, `the granted service saw ${g.hits()} requests`)
  assert.doesNotMatch(consoleText, new RegExp(`answer from ${other}`))
  assert.equal(o.hits(), 0, 'the ungranted service was reached')
  for (const what of [
    'next-grant-address',
    'granted-address-other-port',
    'other-on-host',
    'granted-on-host',
    'consul-on-host',
  ]) {
    assert.match(consoleText, new RegExp(`runcmd> PROBE ${what} closed`), `${what}: ${tail}`)
    assert.doesNotMatch(consoleText, new RegExp(`runcmd> PROBE ${what} open`))
  }
})

/** Whether something listens on the host's loopback port. */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
  })

test("a VM's egress proxy ends with its plugin, comes back when the plugin recovers the task, and ends with the task", async (t) => {
  const { config, env } = await useCloud()
  const consulAddr = env.CONSUL_HTTP_ADDR!
  const image = await tinyImage(env)
  const granted = uniqueName('eg-recover')
  const s = await namedServer(config.host, granted)
  t.after(() => s.server.close())
  await consul(consulAddr, 'PUT', '/v1/agent/service/register', {
    Name: granted,
    ID: granted,
    Address: config.host,
    Port: s.port,
  })
  t.after(() => consul(consulAddr, 'PUT', `/v1/agent/service/deregister/${granted}`).catch(() => {}))
  await serviceUrl(env.CONSUL_DNS_ADDR!, granted, 60_000)

  // The guest asks the granted service every few seconds, for as long as it runs.
  const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n'`
  const loop = `while :; do ${get} | nc 10.0.2.100 80 & sleep 4; kill $! 2>/dev/null; done`
  const id = uniqueName('vm-egress-recover')
  await nomad(
    env.NOMAD_ADDR!,
    'PUT',
    '/v1/jobs',
    vmJob(id, image, { config: { cmds: [loop], egress: [granted] }, service: false }),
  )
  t.after(() => stopJob(env.NOMAD_ADDR!, id).catch(() => {}))
  const [alloc] = await waitForAllocs(env.NOMAD_ADDR!, id, 1, 'running', BOOT_MS)
  await waitFor(async () => s.hits() > 0, {
    timeoutMs: 120_000,
    what: 'the guest to reach the granted service',
  })

  // The proxy QEMU dials, as the domain XML names it.
  const domain = (await domainOf(config, alloc!.ID))!
  const xml = await virsh(libvirtUri(config.dataDir), ['dumpxml', domain])
  const proxyPort = Number(/guestfwd=tcp:10\.0\.2\.100:80-tcp:127\.0\.0\.1:(\d+),,reconnect=1/.exec(xml)?.[1])
  assert.ok(proxyPort > 0, xml)
  assert.equal(await listening(proxyPort), true)

  // The plugin goes with its agent, and its proxy with it; the VM keeps running.
  const qemu = await qemuPids(domain)
  await stopAgent('nomad')
  await waitFor(async () => !(await listening(proxyPort)), {
    timeoutMs: 30_000,
    what: 'the proxy to end with its plugin',
  })
  await restartAgent('nomad')
  await waitForAllocs(env.NOMAD_ADDR!, id, 1, 'running', 120_000)
  assert.deepEqual(await qemuPids(domain), qemu)
  // Recovered on the same port: QEMU dials it again and the guest is answered again.
  const before = s.hits()
  await waitFor(async () => s.hits() > before, {
    timeoutMs: 90_000,
    what: 'the guest to reach the service after the recover',
  })
  assert.equal(await listening(proxyPort), true)

  // Stopping the job ends the VM and its proxy.
  await stopJob(env.NOMAD_ADDR!, id)
  await waitFor(async () => (await qemuPids(domain)).length === 0, {
    timeoutMs: 120_000,
    what: 'the VM to stop',
  })
  await waitFor(async () => !(await listening(proxyPort)), {
    timeoutMs: 30_000,
    what: 'the proxy to end with its task',
  })
})
