// The Debian cloud-init image under the virt driver: built from Debian
// packages (mmdebstrap, cached after the first build), uploaded by digest,
// booted with a copy-on-write overlay and a NoCloud seed carrying the job
// author's user-data merged with the driver's ssh key and commands. Slow under
// TCG (about two minutes of first boot), so one test checks all of it.
import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'
import { imagePaths } from '../../../infra/images/paths.ts'
import { publishImage } from '../../../infra/images/publish.ts'
import { buildDebian } from '../../../infra/images/debian.ts'
import { s3FromEnv } from '../../../infra/components/publish.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad, nomadHeaders } from '../../harness/nomad-http.ts'
import { domainOf, vmJob } from '../../harness/vm-job.ts'
import { allocations, stopJob, waitForAllocs } from '../../harness/wasm-job.ts'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEk0oZ2Cq8yq9dW1o0lWcG7b0m8yTQ3f0zXmB3r1pLqK lean-e2e-key'

/** The first line a TCP server sends (an SSH server's banner). */
function banner(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: 5000 }, () => {})
    socket.once('data', (d) => {
      resolve(d.toString('latin1').split('\n')[0]!.trim())
      socket.destroy()
    })
    socket.once('timeout', () => socket.destroy(new Error('no banner within 5 s')))
    socket.once('error', reject)
  })
}

test('the Debian image boots under the driver on an overlay and applies the user-data, ssh key and commands', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const paths = imagePaths()
  const image = await buildDebian(paths, { rebuild: false })
  await publishImage(s3FromEnv(env, 'publisher'), paths, image)

  const id = uniqueName('debian')
  const userData = [
    '#cloud-config',
    'write_files:',
    '  - path: /etc/lean-marker',
    '    content: "from the author\'s user-data\\n"',
    '',
  ].join('\n')
  const report =
    'echo "LEAN-USERDATA $(test -f /etc/lean-marker && echo marker) $(grep -qs lean-e2e-key /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys && echo key)" > /dev/ttyS0; echo LEAN-USERDATA-DONE > /dev/ttyS0'
  const job = vmJob(id, image, {
    memoryMB: 512,
    service: false,
    config: {
      user_data: userData,
      ssh_authorized_keys: [KEY],
      cmds: [report],
      ready_line: 'LEAN-USERDATA-DONE',
      boot_timeout: '15m',
      disk_size: '4GiB',
      hostname: 'lean-e2e',
    },
  })
  job.Job.TaskGroups[0]!.Networks = [{ DynamicPorts: [{ Label: 'ssh', To: 22 }] }]
  job.Job.TaskGroups[0]!.Tasks[0]!.Config.ports = ['ssh']
  await nomad(addr, 'PUT', '/v1/jobs', job)
  t.after(() => stopJob(addr, id).catch(() => {}))

  const [alloc] = await waitForAllocs(addr, id, 1, 'running', 20 * 60_000)
  const logs = await (
    await fetch(`${addr}/v1/client/fs/logs/${alloc!.ID}?task=vm&type=stdout&origin=start&plain=true`, { headers: nomadHeaders() })
  ).text()
  assert.match(
    logs,
    /^LEAN-USERDATA marker key\r?$/m,
    "the author's write_files ran, and the driver's ssh key and commands were merged in",
  )
  const [a] = await allocations(addr, id)
  const port = a!.AllocatedResources!.Shared!.Ports!.find((p) => p.Label === 'ssh')!
  const seen = await waitFor(async () => (await banner(port.HostIP, port.Value).catch(() => '')) || false, {
    timeoutMs: 120_000,
    what: 'an SSH banner through the forwarded port',
  })
  assert.match(seen, /^SSH-2\.0-OpenSSH/)

  const domain = await domainOf(config, alloc!.ID)
  await stopJob(addr, id)
  await waitFor(async () => (await domainOf(config, alloc!.ID)) === undefined, {
    timeoutMs: 120_000,
    what: `${domain} to stop with its job`,
  })
})
