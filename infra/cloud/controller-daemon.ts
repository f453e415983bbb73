// The controller as a background process of the local cloud, for the demo:
// started detached like the agents (pid file and log in the data dir), found
// again by the next `demo`, stopped by `demo:down` and `cloud:down`. One
// started from other sources or settings (cloud.env gained INGRESS_ADDR, the
// checkout moved on) is restarted, as `cloud:up` restarts a stale agent.
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { layout, type CloudConfig } from './config.ts'
import { readTextIfExists, writeFileAtomic } from './files.ts'
import { runningPid, removePidFile, spawnDetached, stopProcess } from './processes.ts'
import { waitFor } from './wait.ts'
import { retireJobsOutsideNamespace } from './agents/nomad.ts'
import { loadOrCreateCredentials } from './credentials.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
export const CONTROLLER_HTTP = '127.0.0.1:4680'

/** Where a controller's API listens: loopback for the single cloud, each node's own address in a cluster. */
export const controllerAddr = (config: CloudConfig): string => (config.node ? `${config.host}:4680` : CONTROLLER_HTTP)

/** The pid of the controller this config's cloud (or node) runs, when it runs. */
export const controllerPid = (config: CloudConfig): Promise<number | undefined> => runningPid(files(config).pidFile)

function files(config: CloudConfig) {
  const paths = layout(config)
  return {
    pidFile: path.join(paths.run, 'controller.pid'),
    logFile: path.join(paths.logs, 'controller.log'),
    stampFile: path.join(paths.run, 'controller.stamp'),
  }
}

/** A digest of what the controller runs: its sources, the renderers', and the environment it is given. */
async function stampOf(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(Object.entries(env).sort()))
  for (const dir of ['controller', 'jobs']) {
    for (const file of (await readdir(path.join(repo, dir))).filter((f) => f.endsWith('.ts')).sort())
      hash.update(file).update(await readFile(path.join(repo, dir, file)))
  }
  return hash.digest('hex')
}

/** Starts the controller unless it already runs; resolves once its /ready answers 200. */
export async function ensureController(config: CloudConfig, env: Readonly<Record<string, string>>, progress: (m: string) => void): Promise<{ url: string; logFile: string }> {
  const { pidFile, logFile, stampFile } = files(config)
  const addr = controllerAddr(config)
  const url = `http://${addr}`
  // The controller acts with its own least-privilege tokens, not the operator's.
  const childEnv = {
    ...process.env,
    ...env,
    CONSUL_HTTP_TOKEN: env.LEAN_CONTROLLER_CONSUL_TOKEN ?? env.CONSUL_HTTP_TOKEN,
    NOMAD_TOKEN: env.LEAN_CONTROLLER_NOMAD_TOKEN ?? env.NOMAD_TOKEN,
    LEAN_CONTROLLER_HTTP_ADDR: addr,
    // One per node in a cluster; they elect a leader through Consul.
    LEAN_CONTROLLER_ID: config.node?.name ?? 'demo',
  }
  const stamp = await stampOf({ ...env, LEAN_CONTROLLER_HTTP_ADDR: addr })
  let pid = await runningPid(pidFile)
  if (pid !== undefined && (await readTextIfExists(stampFile)) !== stamp) {
    progress('controller: restarting, its sources or the cloud\'s settings changed since it started')
    await stopController(config, progress)
    pid = undefined
  }
  if (pid === undefined) {
    // A controller from before managed jobs had a namespace left its jobs in `default`; this one makes them anew in its own.
    const retired = await retireJobsOutsideNamespace(config, await loadOrCreateCredentials(config))
    if (retired.length > 0) progress(`controller: stopped ${retired.length} jobs an older controller ran outside namespace ${config.controller.namespace} (${retired.join(', ')}); they come back in it`)
    const started = await spawnDetached({
      name: 'controller',
      command: process.execPath,
      args: ['--import', 'tsx', path.join(repo, 'controller/main.ts')],
      env: childEnv,
      cwd: repo,
      ...(config.node?.netnsPath && { netnsPath: config.node.netnsPath }),
      logFile,
      pidFile,
    })
    await writeFileAtomic(stampFile, stamp)
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
