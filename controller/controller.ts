// Wires the parts: the sources feed the keyed queue, whose workers run
// reconcile(name). Everything stops with one abort.
import type { Logger } from 'pino'
import { StatusWriter } from './app-status.ts'
import type { ControllerConfig } from './config.ts'
import { ConsulKv } from './consul-kv.ts'
import { NomadApi } from './nomad-api.ts'
import { Reconciler } from './reconciler.ts'
import { watchJobs, watchSpecs } from './watch-sources.ts'
import { WorkQueue } from './work-queue.ts'

export interface RunningController {
  readonly reconciler: Reconciler
  stop(): Promise<void>
}

export function startController(config: ControllerConfig, log: Logger): RunningController {
  const kv = new ConsulKv(config.consulAddr, config.consulToken)
  const nomad = new NomadApi(config.nomadAddr, config.nomadToken)
  const reconciler = new Reconciler(kv, nomad, new StatusWriter(kv, config.statusPrefix), config.appsPrefix, log)
  const queue = new WorkQueue((name) => reconciler.reconcile(name), { workers: config.workers }, log)
  const abort = new AbortController()
  const sources = [
    watchSpecs(kv, config.appsPrefix, (name) => queue.add(name), abort.signal, log),
    watchJobs(nomad, (name) => queue.add(name), abort.signal, log),
  ]
  log.info({ appsPrefix: config.appsPrefix, statusPrefix: config.statusPrefix, workers: config.workers }, 'controller started')
  return {
    reconciler,
    async stop() {
      abort.abort()
      queue.stop()
      await Promise.all(sources)
    },
  }
}
