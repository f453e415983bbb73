// How the example builds run their tools: each long step under `nice -n 10`
// (two cores, shared with the cloud and other builds), its output in a log
// file, a progress line while it runs, and on failure an error that quotes
// the log's last lines. A tool that is not installed is named with how to get it.
import { execFile, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'

/** A build tool that is not on PATH (or does not run). */
export class MissingToolError extends Error {
  override name = 'MissingToolError'
}

/** Prints one progress line. */
export type Progress = (line: string) => void

export const printProgress: Progress = (line) => process.stderr.write(`[build:examples] ${line}\n`)

/**
 * The first line `command args` prints (its version, say). Throws
 * MissingToolError saying `why` the build needs it and `howToGet` it.
 */
export function toolVersion(
  command: string,
  args: readonly string[],
  why: string,
  howToGet: string,
  cwd?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        const detail =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'it is not on PATH'
            : `\`${command} ${args.join(' ')}\` failed: ${(stderr || err.message).trim()}`
        reject(new MissingToolError(`${why} needs ${command}, but ${detail}. ${howToGet}`))
        return
      }
      resolve(stdout.trim().split('\n')[0] ?? '')
    })
  })
}

export interface StepOptions {
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
  /** Where the step's output goes. */
  readonly log: string
  readonly progress: Progress
  /** Added to the error when the step fails, e.g. what usually causes that. */
  readonly hint?: string
}

const HEARTBEAT_MS = 20_000

/** Runs `command args` under `nice -n 10` to completion; rejects with the log's tail when it fails. */
export async function runStep(
  what: string,
  command: string,
  args: readonly string[],
  options: StepOptions,
): Promise<void> {
  await mkdir(path.dirname(options.log), { recursive: true })
  const log = createWriteStream(options.log)
  const started = Date.now()
  const beat = setInterval(
    () =>
      options.progress(
        `  ${what}: still running (${Math.round((Date.now() - started) / 1000)} s; log: ${options.log})`,
      ),
    HEARTBEAT_MS,
  )
  try {
    const outcome = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      const child = spawn('nice', ['-n', '10', command, ...args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout.pipe(log, { end: false })
      child.stderr.pipe(log, { end: false })
      child.once('error', (error) => resolve({ code: null, error }))
      child.once('close', (code) => resolve({ code }))
    })
    await new Promise<void>((resolve) => log.end(resolve))
    if (outcome.code === 0) return
    const tail = (await readFile(options.log, 'utf8').catch(() => ''))
      .trimEnd()
      .split('\n')
      .slice(-20)
      .join('\n')
    const why = outcome.error ? outcome.error.message : `exit code ${outcome.code}`
    throw new Error(
      `${what} failed (${why}): ${command} ${args.join(' ')}\nlast lines of ${options.log}:\n${tail}${options.hint ? `\n${options.hint}` : ''}`,
    )
  } finally {
    clearInterval(beat)
    log.end()
  }
}
