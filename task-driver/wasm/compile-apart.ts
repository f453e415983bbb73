// Compiling a component is the platform's work, done once per digest and
// shared by every task that runs it; its memory is the compiler's, not the
// task's. So before a confined wasmtime task starts, the host runs once with
// `--compile` in a cgroup of its own (COMPILE_MEMORY_BYTES), and the task's
// host then starts in the task's cgroup from the compile cache.
import { execFile } from 'node:child_process'
import { DriverError, type DriverErrorCode } from '../kit/errors.ts'
import { createTaskCgroup, joinCommand, oomKills, removeTaskCgroup, type CgroupLayout } from './task-cgroup.ts'

/** What one compile may use: cranelift on a large componentize-js component peaks at a few hundred MiB. */
export const COMPILE_MEMORY_BYTES = 2 * 1024 ** 3
const COMPILE_TIMEOUT_MS = 5 * 60_000
/** The host's own name for "compiled this long before I started" (it then reports the start as a compile). */
const COMPILED_BEFORE_MS = 'LEAN_WASM_HOST_COMPILED_MS'

interface CompileAnswer {
  readonly cached: boolean
  readonly compileMs: number
}

/** The host's last stderr line names a code: `lean-wasm-host: LEAN_ERR_…: why`. */
function hostFailure(stderr: string): { code: DriverErrorCode; message: string } | undefined {
  const line = stderr.trim().split('\n').at(-1) ?? ''
  const match = /^lean-wasm-host: (LEAN_ERR_[A-Z_]+): (.*)$/.exec(line)
  return match ? { code: match[1] as DriverErrorCode, message: match[2]! } : undefined
}

/**
 * Fills the compile cache for the host spec `specFile`; answers the
 * environment the task's host starts with. `name` names the compile's cgroup.
 */
export async function compileApart(layout: CgroupLayout, name: string, host: string, specFile: string): Promise<Record<string, string>> {
  const cgroup = await createTaskCgroup(layout, name, { memoryBytes: COMPILE_MEMORY_BYTES, cpuShares: 1024, pidsMax: 1024 })
  try {
    const { command, args } = joinCommand(cgroup, host, ['--compile', specFile])
    const outcome = await new Promise<{ stdout: string; stderr: string; failed: boolean }>((resolve) => {
      execFile(command, args, { timeout: COMPILE_TIMEOUT_MS, killSignal: 'SIGKILL', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout, stderr) =>
        resolve({ stdout, stderr, failed: err !== null }),
      )
    })
    if (outcome.failed) {
      if ((await oomKills(cgroup)) > 0) {
        throw new DriverError('LEAN_ERR_COMPONENT_COMPILE', `compiling the component took more than the ${COMPILE_MEMORY_BYTES / 1024 ** 2} MiB a compile may use`)
      }
      const known = hostFailure(outcome.stderr)
      throw new DriverError(known?.code ?? 'LEAN_ERR_COMPONENT_COMPILE', known?.message ?? `the component could not be compiled: ${outcome.stderr.trim().split('\n').at(-1) ?? 'no reason given'}`)
    }
    let answer: CompileAnswer
    try {
      answer = JSON.parse(outcome.stdout) as CompileAnswer
    } catch {
      throw new DriverError('LEAN_ERR_COMPONENT_COMPILE', `the compiler answered something unexpected: ${JSON.stringify(outcome.stdout.slice(0, 200))}`)
    }
    return answer.cached ? {} : { [COMPILED_BEFORE_MS]: String(answer.compileMs) }
  } finally {
    await removeTaskCgroup(cgroup)
  }
}
