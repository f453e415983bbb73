// Starting and stopping the agents as detached background processes, tracked
// by pid files in the data dir. A pid file records the process start time too,
// so a recycled pid is never mistaken for our agent.
import { spawn } from 'node:child_process'
import { mkdir, open, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { processStartTicks } from '../../ground/proc-stats.ts'
import { waitFor } from './wait.ts'

export interface SpawnSpec {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
  readonly uid?: number
  readonly gid?: number
  /** A network namespace to run in (a cluster's node): started through nsenter, which execs the command in place. */
  readonly netnsPath?: string
  readonly logFile: string
  readonly pidFile: string
}

interface PidRecord {
  readonly pid: number
  readonly startTicks: string
}

export async function spawnDetached(spec: SpawnSpec): Promise<number> {
  await mkdir(path.dirname(spec.logFile), { recursive: true })
  await mkdir(path.dirname(spec.pidFile), { recursive: true })
  const log = await open(spec.logFile, 'a')
  try {
    await log.write(`\n=== ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`)
    const [command, args] = spec.netnsPath ? ['nsenter', [`--net=${spec.netnsPath}`, '--', spec.command, ...spec.args]] : [spec.command, spec.args]
    const child = spawn(command, args, {
      detached: true, // own session: survives the CLI and never gets its terminal signals
      stdio: ['ignore', log.fd, log.fd],
      env: spec.env ?? process.env,
      ...(spec.cwd !== undefined && { cwd: spec.cwd }),
      ...(spec.uid !== undefined && { uid: spec.uid }),
      ...(spec.gid !== undefined && { gid: spec.gid }),
    })
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject)
      child.once('spawn', () => resolve(child.pid!))
    })
    child.unref()
    const ticks = await processStartTicks(pid)
    const record: PidRecord = { pid, startTicks: ticks ?? '' }
    await writeFile(spec.pidFile, JSON.stringify(record))
    return pid
  } finally {
    await log.close()
  }
}

/** The pid of the agent recorded in pidFile if that very process still runs. */
export async function runningPid(pidFile: string): Promise<number | undefined> {
  let record: PidRecord
  try {
    record = JSON.parse(await readFile(pidFile, 'utf8')) as PidRecord
  } catch {
    return undefined
  }
  const ticks = await processStartTicks(record.pid)
  return ticks !== undefined && ticks === record.startTicks ? record.pid : undefined
}

export async function isAlive(pid: number): Promise<boolean> {
  return (await processStartTicks(pid)) !== undefined
}

/** Sends `signal`, waits up to graceMs for the process to exit, then SIGKILLs it. */
export async function stopProcess(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, signal)
  } catch {
    return 'stopped'
  }
  try {
    await waitFor(async () => !(await isAlive(pid)), { timeoutMs: graceMs, what: `pid ${pid} to exit` })
    return 'stopped'
  } catch {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
    await waitFor(async () => !(await isAlive(pid)), { timeoutMs: 5000, what: `pid ${pid} to die` })
    return 'killed'
  }
}

export async function removePidFile(pidFile: string): Promise<void> {
  await rm(pidFile, { force: true })
}

/**
 * Processes whose working directory or command line lies inside `dir`: task
 * processes and plugins the agents started. `down` uses this to guarantee
 * that nothing the cloud started outlives it.
 */
export async function processesUnder(dir: string): Promise<number[]> {
  const found: number[] = []
  const prefix = dir.endsWith('/') ? dir : `${dir}/`
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    try {
      const cwd = await readlink(`/proc/${pid}/cwd`)
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ')
      if ((cwd === dir || cwd.startsWith(prefix) || cmdline.includes(prefix)) && (await isAlive(pid))) {
        found.push(pid)
      }
    } catch {
      // The process exited while we looked, or is not ours to inspect.
    }
  }
  return found
}
