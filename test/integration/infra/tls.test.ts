// Consul and Nomad speak TLS only, with the CA the cloud made at its first
// start: plain HTTP is not served, HTTPS is trusted with that CA and only with
// it, and the consul and nomad CLIs, psql and the controller work from
// cloud.env's variables alone.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { Agent } from 'undici'
import { builtBinary } from '../../../infra/cloud/binaries.ts'
import { layout } from '../../../infra/cloud/config.ts'
import { useCloud } from '../../harness/cloud.ts'
import { consulHeaders } from '../../harness/consul-http.ts'
import { nomadHeaders } from '../../harness/nomad-http.ts'
import { runProjectCommand } from '../../harness/project-command.ts'

const run = promisify(execFile)

test('the APIs answer HTTPS with the cloud CA only, and plain HTTP not at all', async () => {
  const { config, env } = await useCloud()
  assert.equal(env.CONSUL_HTTP_ADDR, `https://${config.host}:${config.consul.httpPort}`)
  assert.equal(env.NOMAD_ADDR, `https://${config.host}:${config.nomad.httpPort}`)
  assert.equal(env.CONSUL_CACERT, layout(config).tls.caCert)
  assert.equal(env.NOMAD_CACERT, layout(config).tls.caCert)

  const apis = [
    { name: 'Consul', addr: env.CONSUL_HTTP_ADDR!, headers: consulHeaders() },
    { name: 'Nomad', addr: env.NOMAD_ADDR!, headers: nomadHeaders() },
  ]
  for (const { name, addr, headers } of apis) {
    // useCloud trusts CONSUL_CACERT / NOMAD_CACERT for this process's fetch.
    const leader = await fetch(`${addr}/v1/status/leader`, { headers })
    assert.equal(leader.status, 200, name)
    assert.match((await leader.json()) as string, /^127\.0\.0\.1:\d+$/)

    // The same port over plain HTTP: Go's TLS server answers that it speaks HTTPS, and serves nothing.
    const plain = await fetch(`${addr.replace(/^https:/, 'http:')}/v1/status/leader`, { headers })
    assert.equal(plain.status, 400, `${name} over plain HTTP`)
    assert.match(await plain.text(), /HTTP request to an HTTPS server/)

    // With the system's roots alone, the certificate is not trusted.
    const untrusting = new Agent()
    try {
      await assert.rejects(
        fetch(`${addr}/v1/status/leader`, { headers, dispatcher: untrusting } as unknown as RequestInit),
        (err: Error) =>
          (err.cause as NodeJS.ErrnoException | undefined)?.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        `${name} without the CA`,
      )
    } finally {
      await untrusting.close()
    }
  }
})

test('consul, nomad and psql work with the variables of cloud.env, and not without the CA', async () => {
  const { config, env } = await useCloud()
  const consul = await builtBinary(config, 'consul')
  const nomad = await builtBinary(config, 'nomad')
  assert.ok(consul && nomad, 'cloud:up built them')
  // The shell a user loads cloud.env into: its own PATH and HOME, nothing of this process's trust.
  const shell = { PATH: process.env.PATH, HOME: process.env.HOME, ...env }

  const members = await run(consul, ['members'], { env: shell })
  assert.match(members.stdout, /lean-cloud\s+127\.0\.0\.1:\d+\s+alive\s+server/)
  const nodes = await run(nomad, ['node', 'status'], { env: shell })
  assert.match(nodes.stdout, /lean-cloud\s+.*\bready\b/)
  const psql = await run('psql', [env.DATABASE_URL!, '-Atc', 'select 1'], { env: shell })
  assert.equal(psql.stdout.trim(), '1')

  const withoutCa = { ...shell, CONSUL_CACERT: '', NOMAD_CACERT: '' }
  await assert.rejects(run(consul, ['members'], { env: withoutCa }), (err: Error & { stderr?: string }) =>
    /x509|certificate/.test(err.stderr ?? ''),
  )
  await assert.rejects(
    run(nomad, ['node', 'status'], { env: withoutCa }),
    (err: Error & { stderr?: string }) => /x509|certificate/.test(err.stderr ?? ''),
  )
})

test('a CA file that is not there stops the controller and leanctl with a message naming the variable', async () => {
  const { config, env } = await useCloud()
  const missing = `${layout(config).tls.dir}/no-such-ca.pem`
  const base = { ...process.env, ...env, LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:0' }
  const controller = await runProjectCommand('controller/main.ts', [], { ...base, NOMAD_CACERT: missing })
  assert.equal(controller.code, 2, controller.output)
  assert.match(controller.output, new RegExp(`NOMAD_CACERT: no such file: ${missing.replace(/[.]/g, '\\.')}`))
  assert.doesNotMatch(controller.output, /\n\s+at /, 'no stack trace')

  const leanctl = await runProjectCommand('cli/leanctl.ts', ['status'], { ...base, CONSUL_CACERT: missing })
  assert.equal(leanctl.code, 2, leanctl.output)
  assert.match(leanctl.output, /^error: CONSUL_CACERT: no such file: /m)

  // With the cloud's CA, leanctl reaches Consul over HTTPS.
  const ok = await runProjectCommand('cli/leanctl.ts', ['status'], base)
  assert.equal(ok.code, 0, ok.output)
})
