// Runs `virsh -c <uri> …` with execFile (never a shell), with a timeout, and
// turns a failure into a VirtError whose code says what kind of failure it was
// and whose message names the command and virsh's own words.
import { execFile } from 'node:child_process'
import { notInstalled, VirtError, type VirtErrorCode } from './errors.ts'

export const DEFAULT_VIRSH_TIMEOUT_MS = 30_000

export interface VirshOptions {
  readonly timeoutMs?: number
  /** The virsh binary; tests and unusual installs may point elsewhere. */
  readonly virsh?: string
}

/** The argument vector for one virsh call: `-q` (no banners) and the connection URI first. */
export function virshArgs(uri: string, args: readonly string[]): string[] {
  if (!uri) throw new VirtError('LEAN_ERR_VIRT_SPEC', 'a libvirt connection URI is required')
  return ['-q', '-c', uri, ...args]
}

/** What a failed run looked like, as execFile reports it. */
export interface RunFailure {
  /** Exit code, or a spawn error code such as 'ENOENT'. */
  readonly code?: number | string | null | undefined
  readonly killed?: boolean | undefined
  readonly signal?: string | null | undefined
  readonly stderr: string
  readonly timedOut?: boolean
}

// virsh's messages (libvirt 9) for the failures the driver treats differently.
const PATTERNS: ReadonlyArray<[RegExp, VirtErrorCode]> = [
  [
    /failed to connect to the hypervisor|Failed to connect socket|Cannot recv data|no connection driver available/i,
    'LEAN_ERR_VIRT_CONNECT',
  ],
  [/Domain not found|failed to get domain|no domain with matching (name|uuid)/i, 'LEAN_ERR_VIRT_NO_DOMAIN'],
  [
    /already exists with uuid|domain '.*' already exists|is already (defined|active)/i,
    'LEAN_ERR_VIRT_DOMAIN_EXISTS',
  ],
  [/Could not set up host forwarding rule|hostfwd/i, 'LEAN_ERR_VIRT_PORT_IN_USE'],
]

/** Maps a failed virsh run to a VirtError naming the command and what it printed (pure). */
export function virshFailure(command: readonly string[], failure: RunFailure, timeoutMs: number): VirtError {
  const tool = command[0] ?? 'virsh'
  const shown = command.join(' ')
  const stderr = failure.stderr.trim()
  if (failure.code === 'ENOENT') return notInstalled(tool, command)
  if (failure.timedOut || (failure.killed && failure.signal === 'SIGTERM')) {
    return new VirtError('LEAN_ERR_VIRT_TIMEOUT', `\`${shown}\` did not finish within ${timeoutMs} ms`, {
      command,
      stderr,
    })
  }
  const code = PATTERNS.find(([re]) => re.test(stderr))?.[1] ?? 'LEAN_ERR_VIRT_COMMAND'
  const hint =
    code === 'LEAN_ERR_VIRT_CONNECT'
      ? " (is the libvirt daemon running? `npm run cloud:up` starts the cloud's own)"
      : ''
  const how =
    typeof failure.code === 'number' ? `exit code ${failure.code}` : `${failure.code ?? failure.signal}`
  return new VirtError(code, `\`${shown}\` failed (${how})${hint}: ${stderr || '(no output on stderr)'}`, {
    command,
    stderr,
  })
}

/** Runs virsh against `uri`; resolves with its stdout, or rejects with a VirtError. */
export function virsh(uri: string, args: readonly string[], options: VirshOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_VIRSH_TIMEOUT_MS
  const program = options.virsh ?? 'virsh'
  const argv = virshArgs(uri, args)
  return new Promise((resolve, reject) => {
    execFile(
      program,
      argv,
      {
        timeout: timeoutMs,
        killSignal: 'SIGTERM',
        maxBuffer: 16 << 20,
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C' },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout)
        const e = err as NodeJS.ErrnoException & {
          killed?: boolean
          signal?: string | null
          code?: number | string
        }
        reject(
          virshFailure(
            [program, ...argv],
            { code: e.code, killed: e.killed, signal: e.signal, stderr: stderr || e.message },
            timeoutMs,
          ),
        )
      },
    )
  })
}

/** Parses `virsh domstats` output (`Domain: 'x'` then `  key=value` lines) into one record per domain (pure). */
export function parseDomstats(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>()
  let current: Record<string, string> | undefined
  for (const line of text.split('\n')) {
    const head = /^Domain: '(.*)'$/.exec(line.trim())
    if (head) {
      current = {}
      out.set(head[1]!, current)
      continue
    }
    const kv = /^\s*([^=\s]+)=(.*)$/.exec(line)
    if (kv && current) current[kv[1]!] = kv[2]!
  }
  return out
}
