// A full `vm` document, rendered as the controller renders it, passes the
// real Nomad agent's job validation. The local cloud has no libvirt and no
// virt driver plugin: the driver config itself is checked on a client at
// placement, so this covers the job's structure (resources in cores, host
// networking, artifact, task-level service with a driver-address check).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'
import { useCloud } from '../../harness/cloud.ts'

const document = {
  kind: 'vm',
  image: 'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2',
  vcpus: 2,
  memory: '2GiB',
  disks: { primarySize: '20GiB', thinCopy: true },
  cloudInit: {
    userData: '#cloud-config\npackages: [nginx]\nruncmd:\n  - echo "hello from ${HOSTNAME}" > /var/www/html/index.html\n',
    sshAuthorizedKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4n1nRkGp6l0CwAD7eqv1uYy7q8m9bGq3o0ZxkR7Xwz ops@lean',
  },
  network: { bridge: 'virbr0', ports: { ssh: 22, http: 80 } },
  count: 2,
  datacenters: ['dc1'],
  service: { name: 'web-vm', port: 'http', checkIntervalSeconds: 15 },
}

test("a rendered vm job passes the real agent's job validation", async () => {
  const { env } = await useCloud()
  const job = renderAppJob(parseAppSpec('web-vm', JSON.stringify(document)))
  const res = await fetch(`${env.NOMAD_ADDR}/v1/validate/job`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...(env.NOMAD_TOKEN && { 'x-nomad-token': env.NOMAD_TOKEN }) },
    body: JSON.stringify({ Job: job }),
  })
  const text = await res.text()
  assert.equal(res.status, 200, text)
  const answer = JSON.parse(text) as { Error?: string; ValidationErrors?: string[] | null; Warnings?: string }
  assert.equal(answer.Error ?? '', '', answer.Error)
  assert.ok(answer.ValidationErrors == null || answer.ValidationErrors.length === 0, JSON.stringify(answer.ValidationErrors))
})
