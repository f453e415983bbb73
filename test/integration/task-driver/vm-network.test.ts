// A VM guest reaches nothing of the host: from inside the tiny image (its
// runcmd commands, output on the serial console), connections to 10.0.2.2 (in
// QEMU's user-mode network, the host's 127.0.0.1) on the ports of the S3
// server's filer, S3, Consul, Nomad and SMTP all fail, while the host still
// reaches the guest's own forwarded port.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { useCloud } from '../../harness/cloud.ts'
import { serviceUrl } from '../../harness/consul-dns.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { tinyImage, vmJob } from '../../harness/vm-job.ts'
import { stopJob, waitForAllocs } from '../../harness/wasm-job.ts'

// A boot under TCG on a loaded two-core machine, after fetching the image.
const BOOT_MS = 240_000

test("a VM guest cannot open any of the host's loopback ports; its own forwarded port still serves", async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const image = await tinyImage(env)
  const id = uniqueName('vm-net')
  const targets: Record<string, number> = {
    filer: config.s3.filerPort,
    s3: config.s3.port,
    consul: config.consul.httpPort,
    nomad: config.nomad.httpPort,
    smtp: config.smtp.port,
  }
  // busybox nc: exit 0 only when the connection opens.
  const cmds = Object.entries(targets).map(
    ([what, port]) => `if nc -w 3 10.0.2.2 ${port} </dev/null; then echo PROBE ${what} open; else echo PROBE ${what} closed; fi`,
  )
  await nomad(addr, 'PUT', '/v1/jobs', vmJob(id, image, { config: { cmds } }))
  t.after(() => stopJob(addr, id).catch(() => {}))

  const [alloc] = await waitForAllocs(addr, id, 1, 'running', BOOT_MS)
  const consoleText = await waitFor(
    async () => {
      const res = await fetch(`${addr}/v1/client/fs/logs/${alloc!.ID}?task=vm&type=stdout&origin=start&plain=true`, { headers: nomadHeaders() })
      const text = await res.text()
      return /runcmd: done/.test(text) ? text : false
    },
    { timeoutMs: 120_000, intervalMs: 500, what: "the guest's probes on its console" },
  )
  // What each probe printed (the console also echoes each command, which names both outcomes).
  for (const what of Object.keys(targets)) {
    assert.match(consoleText, new RegExp(`runcmd> PROBE ${what} closed`), `${what}: ${consoleText.slice(-2000)}`)
    assert.doesNotMatch(consoleText, new RegExp(`runcmd> PROBE ${what} open`))
  }

  // The host's forward into the guest works as before.
  const url = await serviceUrl(env.CONSUL_DNS_ADDR!, id, 120_000)
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  assert.equal(res.status, 200)
  assert.match(await res.text(), /Hello from/)
})
