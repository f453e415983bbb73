// The controller as a background process of the local cloud, for the demo:
// started detached like the agents (pid file and log in the data dir), found
// again by the next `demo`, stopped by `demo:down` and `cloud:down`.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { layout, type CloudConfig } from '../cloud/config.ts'
import { runningPid, removePidFile, spawnDetached, stopProcess } from '../cloud/processes.ts'
import { waitFor } from '../cloud/wait.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
export const CONTROLLER_HTTP = '127.0.0.1:4680'

function files(config: CloudConfig) {
  const paths = layout(config)
  return { pidFile: path.join(paths.run, 'controller.pid'), logFile: path.join(paths.logs, 'controller.log') }
}

/** Starts the controller unless it already runs; resolves once its /ready answers 200. */
export async function ensureController(config: CloudConfig, env: Readonly<Record<string, string>>, progress: (m: string) => void): Promise<{ url: string; logFile: string }> {
  const { pidFile, logFile } = files(config)
  const url = `http://${CONTROLLER_HTTP}`
  const pid = await runningPid(pidFile)
  if (pid === undefined) {
    const started = await spawnDetached({
      name: 'controller',
      command: process.execPath,
      args: ['--import', 'tsx', path.join(repo, 'controller/main.ts')],
      env: { ...process.env, ...env, LEAN_CONTROLLER_HTTP_ADDR: CONTROLLER_HTTP, LEAN_CONTROLLER_ID: 'demo' },
      cwd: repo,
      logFile,
      pidFile,
    })
    progress(`controller: started (pid ${started}, log ${logFile})`)
  } else {
    progress(`controller: already running (pid ${pid})`)
  }
  await waitFor(async () => (await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) })).ok, {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: `the controller to be ready (log: ${logFile})`,
    onProgress: (ms) => progress(`  waiting for the controller (${Math.round(ms / 1000)}s)`),
  })
  return { url, logFile }
}

export async function stopController(config: CloudConfig, progress: (m: string) => void): Promise<void> {
  const { pidFile } = files(config)
  const pid = await runningPid(pidFile)
  if (pid !== undefined) {
    // SIGTERM: the controller releases its leader lock and deregisters from Consul.
    await stopProcess(pid, 'SIGTERM', 10_000)
    progress(`controller: stopped (pid ${pid})`)
  }
  await removePidFile(pidFile)
}
