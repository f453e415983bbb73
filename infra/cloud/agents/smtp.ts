// The SMTP server: Debian's aiosmtpd on loopback, delivering every message
// into a Maildir in the data dir, where tests and tools read it back. It
// relays nothing onwards, so no mail ever leaves the machine. It offers
// STARTTLS with a certificate of the cloud's CA and requires it: before
// STARTTLS it takes no MAIL, RCPT, DATA or AUTH (aiosmtpd's require_starttls).
import { mkdir, readFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { layout } from '../config.ts'
import type { Agent } from '../agent.ts'
import { serviceCertFiles } from '../tls.ts'
import { servedCertificate, servesOtherCertificate } from '../tls-probe.ts'

// Debian's interpreter, not the first python3 on PATH: a pyenv or venv python
// does not see the modules that apt installs.
const PYTHON = '/usr/bin/python3'

/** Our environment without the variables that would point Debian's python at another install's modules. */
function debianPythonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' }
  delete env.PYTHONHOME
  delete env.PYTHONPATH
  return env
}

/**
 * Connects and reads the server's first line; resolves to it when it is an
 * SMTP `220` greeting, throws otherwise. Says QUIT, so the server logs no error.
 */
export function smtpGreeting(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port })
    let received = ''
    const fail = (err: Error) => {
      socket.destroy()
      reject(err)
    }
    socket.setTimeout(timeoutMs, () => fail(new Error(`no SMTP greeting from ${host}:${port} within ${timeoutMs} ms`)))
    socket.once('error', fail)
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      received += chunk
      const end = received.indexOf('\n')
      if (end < 0) return
      const line = received.slice(0, end).trimEnd()
      if (!/^220[ -]/.test(line)) return fail(new Error(`${host}:${port} greeted with '${line}', expected 220`))
      socket.setTimeout(0)
      socket.end('QUIT\r\n')
      resolve(line)
    })
  })
}

export const smtpAgent: Agent = {
  name: 'smtp',
  // Serves a certificate of the cloud's CA on STARTTLS: restarted when it is renewed.
  usesTls: true,
  programs: [],
  ports: (c) => [c.smtp.port],
  stopSignal: 'SIGINT', // aiosmtpd stops its event loop and closes the listener on SIGINT
  stopGraceMs: 5000,

  async prepare({ config }) {
    // Made up front, so readers find an empty Maildir before the first message.
    const maildir = layout(config).maildir
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(path.join(maildir, sub), { recursive: true })
  },

  async spawnSpec({ config }) {
    return {
      command: PYTHON,
      args: [
        '-m',
        'aiosmtpd',
        '-n', // no setuid to `nobody`: as root it could not write the Maildir, as anyone else it fails
        '-l',
        `${config.host}:${config.smtp.port}`,
        '-c',
        'aiosmtpd.handlers.Mailbox',
        // STARTTLS with the cloud CA's certificate, and required (--no-requiretls is not given).
        '--tlscert',
        serviceCertFiles(config, 'smtp').cert,
        '--tlskey',
        serviceCertFiles(config, 'smtp').key,
        layout(config).maildir,
      ],
      env: debianPythonEnv(),
      cwd: '/',
    }
  },

  async restartReason({ config }) {
    const served = await servesOtherCertificate(config.host, config.smtp.port, 'smtp', { caFile: layout(config).tls.caCert, certFile: serviceCertFiles(config, 'smtp').cert })
    return served && `STARTTLS: ${served}`
  },

  async health({ config }) {
    const greeting = await smtpGreeting(config.host, config.smtp.port)
    // Healthy: STARTTLS works, with a certificate the cloud's CA signed for this address.
    await servedCertificate(config.host, config.smtp.port, 'smtp', await readFile(layout(config).tls.caCert, 'utf8'))
    return `SMTP with STARTTLS on ${config.host}:${config.smtp.port} (${greeting}), Maildir ${layout(config).maildir}`
  },
}
