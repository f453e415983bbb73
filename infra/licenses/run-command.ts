// Runs a tool the gate reads from (go, cargo, the build script) to completion.
import { execFile } from 'node:child_process'
import { LicenseError } from './errors.ts'

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Its exit code and output; 'missing' when the command is not on PATH. */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run | 'missing'> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...options, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && err.code === 'ENOENT') {
        resolve('missing')
        return
      }
      if (err !== null && typeof err.code !== 'number') {
        reject(new LicenseError('LEAN_ERR_LICENSE_INPUT', `cannot run ${command}: ${err.message}`, { cause: err }))
        return
      }
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr })
    })
  })
}
