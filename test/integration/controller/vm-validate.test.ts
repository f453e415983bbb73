// A full `vm` document, rendered as the controller renders it, passes the
// real Nomad agent's job validation. The driver config itself is checked on a
// client at placement (the server has no driver schemas), so a job for the
// `virt` driver validates whether or not a node has it: this covers the job's
// structure (host networking with mapped ports, kill timeout, resources, a
// task-level service with an HTTP check, and a stopped twin with count 0).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseAppSpec, renderAppJob } from '../../../jobs/app-spec.ts'
import { useCloud } from '../../harness/cloud.ts'

const sha256 = '5e'.repeat(32)
const document = {
  kind: 'vm',
  image: { sha256, source: `s3://artifacts/images/${sha256}.json` },
  vcpus: 2,
  memory: '2GiB',
  disk: { size: '20GiB' },
  cloudInit: {
    hostname: 'web-1',
    userData:
      '#cloud-config\npackages: [nginx]\nruncmd:\n  - echo "hello from ${HOSTNAME}" > /var/www/html/index.html\n',
    sshAuthorizedKeys: [
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4n1nRkGp6l0CwAD7eqv1uYy7q8m9bGq3o0ZxkR7Xwz ops@lean',
    ],
    commands: ['echo ${HOSTNAME} > /etc/motd'],
  },
  ports: { ssh: 22, http: 80 },
  count: 2,
  datacenters: ['dc1'],
  service: { name: 'web-vm', port: 'http', checkPath: '/', checkIntervalSeconds: 15 },
}

async function validate(env: Readonly<Record<string, string>>, doc: unknown): Promise<void> {
  const job = renderAppJob(parseAppSpec('web-vm', JSON.stringify(doc)))
  const res = await fetch(`${env.NOMAD_ADDR}/v1/validate/job`, {
    method: 'PUT',
    headers: {
      'content-type': 'application/json',
      ...(env.NOMAD_TOKEN && { 'x-nomad-token': env.NOMAD_TOKEN }),
    },
    body: JSON.stringify({ Job: job }),
  })
  const text = await res.text()
  assert.equal(res.status, 200, text)
  const answer = JSON.parse(text) as { Error?: string; ValidationErrors?: string[] | null; Warnings?: string }
  assert.equal(answer.Error ?? '', '', answer.Error)
  assert.ok(
    answer.ValidationErrors == null || answer.ValidationErrors.length === 0,
    JSON.stringify(answer.ValidationErrors),
  )
}

test("rendered vm jobs pass the real agent's job validation", async () => {
  const { env } = await useCloud()
  await validate(env, document)
  await validate(env, { ...document, state: 'stopped' })
  await validate(env, { kind: 'vm', image: { sha256 } })
  await validate(env, { kind: 'vm', image: { sha256 }, ports: { http: 8080 }, service: { port: 'http' } })
})
