// Runs the controller as its own process (controller/main.ts), as operators
// do, so tests can SIGKILL it. Its JSON log lines are kept for assertions.
import { spawn, type ChildProcess } from 'node:child_process'
import { asController } from './controller-identity.ts'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../infra/cloud/wait.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))

export interface ControllerProcess {
  readonly id: string
  readonly url: string
  readonly child: ChildProcess
  /** Parsed pino lines so far. */
  readonly lines: ReadonlyArray<Record<string, unknown>>
  role(): Promise<string | undefined>
  waitForRole(role: 'leader' | 'follower', timeoutMs?: number): Promise<void>
  /** Resolves with the first log line matching `test`. */
  waitForLine(test: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  kill(signal?: NodeJS.Signals): Promise<void>
}

let next = 0

/** A controller process with its own least-privilege tokens for the keys `env` gives it (see controller-identity.ts). */
export async function spawnController(env: Readonly<Record<string, string | undefined>>, id = `test-${process.pid}-${next++}`): Promise<ControllerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'controller/main.ts'], {
    cwd: root,
    env: { ...process.env, ...(await asController(env)), LEAN_CONTROLLER_ID: id, LEAN_CONTROLLER_HTTP_ADDR: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters = new Set<(line: Record<string, unknown>) => void>()
  let buffered = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const text = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      try {
        const line = JSON.parse(text) as Record<string, unknown>
        lines.push(line)
        for (const w of waiters) w(line)
      } catch {
        // not a log line
      }
    }
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = once(child, 'exit')

  const waitForLine = (test: (line: Record<string, unknown>) => boolean, timeoutMs = 90_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = lines.find(test)
      if (found) return resolve(found)
      const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`controller ${id}: no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`))), timeoutMs)
      const check = (line: Record<string, unknown>) => {
        if (!test(line)) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve(line)
      }
      waiters.add(check)
    })

  const listening = await waitForLine((l) => typeof l.url === 'string' && l.instance === id, 60_000)
  const url = listening.url as string
  const role = async () => {
    try {
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) })
      return ((await res.json()) as { role: string }).role
    } catch {
      return undefined
    }
  }
  return {
    id,
    url,
    child,
    lines,
    role,
    waitForLine,
    async waitForRole(want, timeoutMs = 60_000) {
      await waitFor(async () => (await role()) === want, { timeoutMs, intervalMs: 100, what: `controller ${id} to be ${want}` })
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      // A controller that outlives its own stop bound (20 s) would hang the test: SIGKILL it then.
      const escalate = setTimeout(() => child.kill('SIGKILL'), 30_000)
      await exited
      clearTimeout(escalate)
    },
  }
}
