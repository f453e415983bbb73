// S3, PostgreSQL and SMTP speak TLS only, with certificates of the cloud's CA
// that name the service: plain text is refused, and a client that does not
// trust that CA (or trusts another) cannot verify the server.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import https from 'node:https'
import net from 'node:net'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { createTransport } from 'nodemailer'
import pg from 'pg'
import { Agent } from 'undici'
import * as Minio from 'minio'
import { s3Client } from '../../../ground/s3-client.ts'
import { layout, type CloudConfig } from '../../../infra/cloud/config.ts'
import { servedCertificate } from '../../../infra/cloud/tls-probe.ts'
import { smtpTransportOptions } from '../../../task-driver/capabilities/mail-capability.ts'
import { useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'

const run = promisify(execFile)

/** A CA of another cloud: what a client trusting the wrong CA holds (the S3 server's internal CA signs nothing the clients see). */
const otherCa = (config: CloudConfig) => readFile(layout(config).tls.s3.caCert, 'utf8')

test('each service serves a certificate of the cloud CA naming <service>.service.consul, localhost and the cloud address', async () => {
  const { config } = await useCloud()
  const ca = await readFile(layout(config).tls.caCert, 'utf8')
  for (const [service, port, how] of [
    ['s3', config.s3.port, 'tls'],
    ['postgres', config.postgres.port, 'postgres'],
    ['smtp', config.smtp.port, 'smtp'],
  ] as const) {
    const served = await servedCertificate(config.host, port, how, ca)
    assert.equal(served.subjectAltName, `DNS:${service}.service.consul, DNS:localhost, IP Address:${config.host}`, service)
    // Verification on against another CA fails: the same handshake, the wrong trust.
    await assert.rejects(servedCertificate(config.host, port, how, await otherCa(config)), /self-signed certificate in certificate chain|unable to verify/, service)
  }
})

test('S3: plain HTTP on the API port is not served, and a client without the CA cannot verify it', async () => {
  const { config, env } = await useCloud()
  assert.equal(env.S3_ENDPOINT, `https://${config.host}:${config.s3.port}`)
  assert.equal(env.S3_CACERT, layout(config).tls.caCert)

  // Go's TLS server answers a plain request that it speaks HTTPS, and serves nothing of S3.
  const plain = await fetch(`http://${config.host}:${config.s3.port}/artifacts/`)
  assert.equal(plain.status, 400)
  assert.match(await plain.text(), /HTTP request to an HTTPS server/)

  // fetch with the system's roots alone (this process otherwise trusts the cloud's CA for Consul and Nomad).
  const untrusting = new Agent()
  try {
    await assert.rejects(
      fetch(`${env.S3_ENDPOINT}/artifacts/`, { dispatcher: untrusting } as unknown as RequestInit),
      (err: Error) => (err.cause as NodeJS.ErrnoException | undefined)?.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    )
  } finally {
    await untrusting.close()
  }
  // An S3 client with the right keys and the system's roots refuses the server; with S3_CACERT it works.
  const keys = { accessKey: env.S3_ACCESS_KEY!, secretKey: env.S3_SECRET_KEY!, region: 'us-east-1' }
  const url = new URL(env.S3_ENDPOINT!)
  const systemRoots = new Minio.Client({ endPoint: url.hostname, port: Number(url.port), useSSL: true, ...keys, transportAgent: new https.Agent() })
  await assert.rejects(systemRoots.listBuckets(), /self-signed certificate in certificate chain|unable to verify|UNABLE_TO_VERIFY/)
  assert.ok((await s3Client({ endpoint: env.S3_ENDPOINT!, ...keys, caFile: env.S3_CACERT! }).listBuckets()).length > 0)
})

test('PostgreSQL: no connection without TLS, from any address; verify-full against the cloud CA only', async () => {
  const { config, env } = await useCloud()
  const url = new URL(env.DATABASE_URL!)
  assert.equal(url.searchParams.get('sslmode'), 'verify-full')
  assert.equal(url.searchParams.get('sslrootcert'), layout(config).tls.caCert)

  // Without TLS: pg_hba.conf has only hostssl lines, so even loopback (the most trusted place) is refused.
  url.search = '?sslmode=disable'
  const plainClient = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 })
  await assert.rejects(plainClient.connect(), /no pg_hba\.conf entry for host "127\.0\.0\.1", user "lean_cloud", database "lean_cloud", no encryption/)
  const psql = await run('psql', [url.toString(), '-Atc', 'select 1']).catch((err: Error & { stderr?: string }) => err)
  assert.ok(psql instanceof Error, 'psql with sslmode=disable is refused')
  assert.match(psql.stderr ?? '', /no encryption/)

  // TLS with the system's roots (ssl: {} verifies against them): the server is not trusted.
  const systemRoots = new pg.Client({ host: config.host, port: config.postgres.port, user: url.username, password: decodeURIComponent(url.password), database: 'lean_cloud', ssl: {}, connectionTimeoutMillis: 3000 })
  await assert.rejects(systemRoots.connect(), /self-signed certificate in certificate chain|unable to verify/)
  // psql with verify-full and another CA: refused too.
  const wrongCa = new URL(env.DATABASE_URL!)
  wrongCa.searchParams.set('sslrootcert', layout(config).tls.s3.caCert)
  await assert.rejects(run('psql', [wrongCa.toString(), '-Atc', 'select 1']), (err: Error & { stderr?: string }) => /certificate verify failed/.test(err.stderr ?? ''))

  // The URL alone (sslmode and sslrootcert) is enough, for node-postgres and psql alike; the session is TLS.
  const client = new pg.Client({ connectionString: env.DATABASE_URL })
  await client.connect()
  try {
    const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
    assert.equal(rows[0]!.ssl, true)
  } finally {
    await client.end()
  }
  assert.equal((await run('psql', [env.DATABASE_WRITER_URL!, '-Atc', 'select current_user'])).stdout.trim(), 'lean_writer')
})

/** Speaks plain SMTP: sends each line after the previous reply, returns the replies. */
async function plainSmtp(host: string, port: number, lines: string[]): Promise<string[]> {
  const socket = net.connect({ host, port })
  socket.setEncoding('utf8')
  const replies: string[] = []
  let buffer = ''
  let waiting: ((reply: string) => void) | undefined
  socket.on('data', (chunk: string) => {
    buffer += chunk
    const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(buffer)
    if (m && waiting) {
      const reply = buffer
      buffer = ''
      waiting(reply)
    }
  })
  const next = () => new Promise<string>((resolve) => (waiting = resolve))
  try {
    await next() // greeting
    for (const line of lines) {
      const reply = next()
      socket.write(`${line}\r\n`)
      replies.push((await reply).trim())
    }
  } finally {
    socket.destroy()
  }
  return replies
}

test('SMTP: without STARTTLS no AUTH, MAIL or RCPT is taken; a sender must verify the certificate', async () => {
  const { config, env } = await useCloud()
  const [ehlo, auth, mail, rcpt] = await plainSmtp(config.host, config.smtp.port, ['EHLO attacker', 'AUTH PLAIN AGxlYW4AbGVhbg==', 'MAIL FROM:<a@example.test>', 'RCPT TO:<b@example.test>'])
  assert.match(ehlo!, /250-STARTTLS/)
  for (const reply of [auth, mail, rcpt]) assert.match(reply!, /^530 .*STARTTLS/)

  const [host, port] = env.SMTP_ADDR!.split(':')
  const subject = uniqueName('smtp-plain')
  // A sender that ignores STARTTLS is refused at MAIL FROM.
  await assert.rejects(
    createTransport({ host, port: Number(port), secure: false, ignoreTLS: true, connectionTimeout: 5000 }).sendMail({ from: 'a@lean-cloud.localhost', to: 'b@example.test', subject, text: 'plain' }),
    /530/,
  )
  // One that requires STARTTLS but trusts only the system's roots cannot verify the server.
  await assert.rejects(
    createTransport(smtpTransportOptions({ host: host!, port: Number(port) })).sendMail({ from: 'a@lean-cloud.localhost', to: 'b@example.test', subject, text: 'unverified' }),
    /self-signed certificate in certificate chain|unable to verify/,
  )
})
