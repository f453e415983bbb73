// Wires the parts of one leadership tenure: the sources feed the keyed queue,
// whose workers run reconcile(name). Everything stops with one call.
import pRetry from 'p-retry'
import type { Logger } from 'pino'
import { StatusWriter } from './app-status.ts'
import type { ControllerConfig } from './config.ts'
import { ConsulHealth } from './consul-health.ts'
import { ConsulKv } from './consul-kv.ts'
import { ControllerMetrics } from './controller-metrics.ts'
import { NameClaims } from './name-claims.ts'
import { NomadApi } from './nomad-api.ts'
import { Reconciler } from './reconciler.ts'
import { WorldCache } from './world-cache.ts'
import {
  sweepStatuses,
  watchAllocations,
  watchJobs,
  watchServiceHealth,
  watchSpecs,
} from './watch-sources.ts'
import { WorkQueue, type Result } from './work-queue.ts'

export interface RunningController {
  readonly reconciler: Reconciler
  /** True once every source has listed everything at least once. */
  readonly synced: boolean
  stop(): Promise<void>
}

export function startController(
  config: ControllerConfig,
  log: Logger,
  metrics = new ControllerMetrics(),
): RunningController {
  const kv = new ConsulKv(config.consulAddr, config.consulToken)
  const nomad = new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace)
  const status = new StatusWriter(kv, config.statusPrefix, (name, phase) =>
    phase ? metrics.phases.set(name, phase) : metrics.phases.delete(name),
  )
  const health = new ConsulHealth(config.consulAddr, config.consulToken)
  const claims = new NameClaims(config.appLimits)
  const world = new WorldCache()
  const reconciler = new Reconciler(world, nomad, status, config.appsPrefix, log, claims, config.appLimits)
  const queue = new WorkQueue(
    (name) => instrumented(name, reconciler, metrics),
    { workers: config.workers },
    log,
  )
  const abort = new AbortController()
  const listed = new Set<string>()
  const managed = new Set<string>()
  const jobOfAlloc = new Map<string, string>()
  const sources = [
    watchSpecs(
      kv,
      config.appsPrefix,
      (name) => queue.add(name),
      abort.signal,
      log,
      () => listed.add('specs'),
      claims,
      world,
    ),
    watchJobs(
      nomad,
      config.appsPrefix,
      (name) => queue.add(name),
      abort.signal,
      log,
      () => listed.add('jobs'),
      managed,
      world,
    ),
    watchAllocations(nomad, managed, (name) => queue.add(name), abort.signal, log, jobOfAlloc, world),
    watchServiceHealth(health, jobOfAlloc, (name) => queue.add(name), abort.signal, log, world),
    sweepStatuses(kv, config.statusPrefix, (name) => queue.add(name), abort.signal, log, (statuses) => status.prime(statuses)),
  ]
  log.info(
    { appsPrefix: config.appsPrefix, statusPrefix: config.statusPrefix, workers: config.workers },
    'controller started',
  )
  return {
    reconciler,
    get synced() {
      return listed.size === 2 && world.synced
    },
    async stop() {
      abort.abort()
      queue.stop()
      await Promise.all(sources)
    },
  }
}

/**
 * One reconcile, measured. A brief Consul or Nomad hiccup is retried in
 * place (p-retry, twice, within half a second); anything longer goes back to
 * the queue, which backs the app off on its own without holding a worker.
 */
async function instrumented(
  name: string,
  reconciler: Reconciler,
  metrics: ControllerMetrics,
): Promise<Result> {
  const started = performance.now()
  try {
    const result = await pRetry(() => reconciler.reconcile(name), {
      retries: 2,
      minTimeout: 100,
      maxTimeout: 400,
    })
    metrics.reconciles.inc({ result: 'done' in result ? 'done' : 'retry' })
    return result
  } catch (err) {
    metrics.reconciles.inc({ result: 'error' })
    metrics.reconcileErrors.inc()
    throw err
  } finally {
    metrics.reconcileSeconds.observe((performance.now() - started) / 1000)
  }
}
