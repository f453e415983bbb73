// Runs one of the project's TypeScript entry points (controller/main.ts,
// cli/leanctl.ts, ...) as a user would: its own process, from the checkout,
// with the given environment; for tests of what users see when it fails.
import { spawn } from 'node:child_process'
import path from 'node:path'

const repo = path.resolve(import.meta.dirname, '../..')

export interface CommandRun {
  readonly code: number | null
  /** stdout and stderr as they came, interleaved. */
  readonly output: string
  readonly stdout: string
  readonly stderr: string
}

/** Resolves to the exit code and what the command wrote; killed after `timeoutMs`. */
export function runProjectCommand(
  script: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
  timeoutMs = 60_000,
): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let [output, stdout, stderr] = ['', '', '']
    child.stdout.on('data', (chunk: Buffer) => ((output += chunk.toString()), (stdout += chunk.toString())))
    child.stderr.on('data', (chunk: Buffer) => ((output += chunk.toString()), (stderr += chunk.toString())))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output, stdout, stderr })
    })
  })
}
