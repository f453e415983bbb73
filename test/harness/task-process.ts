// Starts a task's process (the wasmtime host) outside Nomad exactly as the
// plugin's StartTask does (launchTask).
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { builtBinary } from '../../infra/cloud/binaries.ts'
import { loadConfig } from '../../infra/cloud/config.ts'
import { launchTask, type LaunchedTask } from '../../task-driver/wasm/launch-task.ts'
import type { RunnerSpec } from '../../task-driver/wasm/runner-spec.ts'
import { parseTaskConfig } from '../../task-driver/wasm/task-config.ts'
import { helloComponent } from './components.ts'
import { freePort } from '../../infra/cloud/free-port.ts'

export interface TaskProcess extends LaunchedTask {
  readonly base: string
  readonly stateDir: string
  /** Kills the process and closes its capability API. */
  kill(): Promise<void>
}

/** The hello component as a task, with extra task config (HCL names). */
export async function startHelloTask(extra: Record<string, unknown> = {}): Promise<TaskProcess> {
  const hello = await helloComponent()
  const wasmtimeHost = await builtBinary(loadConfig(), 'wasm-host')
  const stateDir = await mkdtemp(path.join(tmpdir(), 'task-test-'))
  const port = await freePort()
  const spec: RunnerSpec = {
    taskId: `t/app/${port}`,
    config: parseTaskConfig({ component: hello.file, sha256: hello.sha256, port: 'http', ...extra }),
    host: '127.0.0.1',
    port,
    cacheDir: path.join(tmpdir(), 'task-test-cache'),
    stateDir,
    guestEnv: {},
    capabilities: {},
    capabilityToken: 't',
    ...(wasmtimeHost && { wasmtimeHost }),
  }
  const launched = await launchTask(spec, '/dev/null', '/dev/null', pino({ level: 'silent' }))
  return {
    ...launched,
    base: `http://127.0.0.1:${port}`,
    stateDir,
    async kill() {
      await launched.handle.stop('SIGKILL', 1000)
      await launched.capabilities.close()
    },
  }
}
