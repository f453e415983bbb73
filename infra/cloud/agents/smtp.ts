// The SMTP server: Debian's aiosmtpd on loopback, delivering every message
// into a Maildir in the data dir, where tests and tools read it back. It
// relays nothing onwards, so no mail ever leaves the machine.
import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { layout } from '../config.ts'
import { CloudError } from '../errors.ts'
import type { Agent } from '../agent.ts'

const run = promisify(execFile)

// Debian's interpreter, not the first python3 on PATH: a pyenv or venv python
// does not see the modules that apt installs.
const PYTHON = '/usr/bin/python3'

async function hasAiosmtpd(): Promise<boolean> {
  try {
    await run(PYTHON, ['-c', 'import aiosmtpd'], { env: debianPythonEnv() })
    return true
  } catch {
    return false
  }
}

/** Our environment without the variables that would point Debian's python at another install's modules. */
function debianPythonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' }
  delete env.PYTHONHOME
  delete env.PYTHONPATH
  return env
}

async function ensureInstalled(progress: (m: string) => void): Promise<void> {
  if (await hasAiosmtpd()) return
  if (process.getuid?.() !== 0) {
    throw new CloudError('LEAN_ERR_CLOUD_BINARY', `aiosmtpd is not installed for ${PYTHON}; run: sudo apt-get install -y python3-aiosmtpd`)
  }
  progress('aiosmtpd is missing; installing Debian package python3-aiosmtpd (apt-get)')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  try {
    await run('apt-get', ['update', '-q'], { env, maxBuffer: 64 << 20 })
    await run('apt-get', ['install', '-y', '-q', 'python3-aiosmtpd'], { env, maxBuffer: 64 << 20 })
  } catch (err) {
    throw new CloudError('LEAN_ERR_CLOUD_BINARY', `installing python3-aiosmtpd with apt-get failed: ${(err as Error).message}`, { cause: err })
  }
  if (!(await hasAiosmtpd())) throw new CloudError('LEAN_ERR_CLOUD_BINARY', `apt-get installed python3-aiosmtpd but ${PYTHON} cannot import it`)
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
  programs: [],
  ports: (c) => [c.smtp.port],
  stopSignal: 'SIGINT', // aiosmtpd stops its event loop and closes the listener on SIGINT
  stopGraceMs: 5000,

  async prepare({ config, progress }) {
    await ensureInstalled(progress)
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
        layout(config).maildir,
      ],
      env: debianPythonEnv(),
      cwd: '/',
    }
  },

  async health({ config }) {
    const greeting = await smtpGreeting(config.host, config.smtp.port)
    return `SMTP on ${config.host}:${config.smtp.port} (${greeting}), Maildir ${layout(config).maildir}`
  },
}
