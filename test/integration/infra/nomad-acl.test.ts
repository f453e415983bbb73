// Nomad on the cloud denies by default: without the cloud's token nothing may
// be registered, stopped or read, and the controller names NOMAD_TOKEN when
// its token is refused.
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { test } from 'node:test'
import { layout } from '../../../infra/cloud/config.ts'
import { useCloud } from '../../harness/cloud.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { uniqueName } from '../../harness/names.ts'
import { runProjectCommand } from '../../harness/project-command.ts'

test('Nomad refuses requests without a valid token', async (t) => {
  const { config, env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('acl-job')
  // A job that waits a minute, so that it is still running when the stop is tried; in the
  // cloud's system namespace, the only one where raw_exec may run (so the token is what is refused).
  const ns = config.nomad.systemNamespace
  const job = {
    ID: id,
    Name: id,
    Namespace: ns,
    Type: 'batch',
    Datacenters: ['dc1'],
    TaskGroups: [
      {
        Name: 'wait',
        Count: 1,
        Tasks: [{ Name: 'sleep', Driver: 'raw_exec', Config: { command: '/bin/sleep', args: ['60'] }, Resources: { CPU: 50, MemoryMB: 32 } }],
      },
    ],
  }
  const anonymous = (method: string, p: string, token?: string, body?: unknown) =>
    fetch(`${addr}${p}`, { method, ...(token && { headers: { 'x-nomad-token': token } }), ...(body !== undefined && { body: JSON.stringify(body) }) })

  assert.equal((await anonymous('PUT', `/v1/jobs?namespace=${ns}`, undefined, { Job: job })).status, 403, 'job register without a token')
  assert.equal((await anonymous('PUT', `/v1/jobs?namespace=${ns}`, '00000000-1111-2222-3333-444444444444', { Job: job })).status, 403, 'a wrong token')
  assert.equal((await anonymous('GET', '/v1/jobs')).status, 403, 'listing jobs')
  assert.equal((await anonymous('GET', '/v1/nodes')).status, 403, 'listing nodes')

  // With the cloud's token (cloud.env) the job registers; stopping it without one is refused.
  await nomad(addr, 'PUT', `/v1/jobs?namespace=${ns}`, { Job: job })
  t.after(() => nomad(addr, 'DELETE', `/v1/job/${id}?purge=true&namespace=${ns}`).catch(() => {}))
  assert.equal((await anonymous('DELETE', `/v1/job/${id}?namespace=${ns}`)).status, 403, 'nomad job stop without a token')
  assert.equal((await nomad<{ Stop: boolean }>(addr, 'GET', `/v1/job/${id}?namespace=${ns}`)).Stop, false)

  // The agent's config holds the gossip key and the Consul token: owner-only.
  const agentConfig = layout(config).nomadConfig
  assert.equal((await stat(agentConfig)).mode & 0o777, 0o600)
  assert.match(await readFile(agentConfig, 'utf8'), /^acl \{\n {2}enabled = true/m)
})

test('a wrong Nomad token stops the controller with a message naming NOMAD_TOKEN', async () => {
  const { env } = await useCloud()
  const wrong = { ...process.env, ...env, NOMAD_TOKEN: '00000000-1111-2222-3333-444444444444', LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:0' }
  const { code, output } = await runProjectCommand('controller/main.ts', [], wrong)
  assert.equal(code, 2, output)
  assert.match(output, /Nomad at https:\/\/[\d.:]+ refused the token in NOMAD_TOKEN/)
  assert.doesNotMatch(output, /\n\s+at /, 'no stack trace')
})
