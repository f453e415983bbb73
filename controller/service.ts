// The controller as a service: the HTTP API first (the Consul agent checks
// its /health, and the leader session hangs on that check), then leader
// election; while this instance leads, a controller tenure runs.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { s3Client } from '../ground/s3-client.ts'
import type { ControllerConfig } from './config.ts'
import { createConsul, sharedConsulAgent } from './consul-client.ts'
import { ConsulKv } from './consul-kv.ts'
import { startController, type RunningController } from './controller.ts'
import { ControllerMetrics } from './controller-metrics.ts'
import { buildHttpApi } from './http-api.ts'
import { ImageStore } from './image-store.ts'
import { ComponentStore } from './component-store.ts'
import { ARTIFACTS_BUCKET } from '../ground/buckets.ts'
import { LeaderElection } from './leader-election.ts'
import { NomadApi } from './nomad-api.ts'
import { minioObjectStore } from './object-store.ts'

export interface ControllerService {
  /** Where the HTTP API listens, e.g. http://127.0.0.1:4680. */
  readonly url: string
  readonly http: FastifyInstance
  stop(): Promise<void>
}

export async function startControllerService(
  config: ControllerConfig,
  log: Logger,
): Promise<ControllerService> {
  const metrics = new ControllerMetrics()
  // Filled in below; the HTTP API reads them on each /ready.
  const current: { election?: LeaderElection; tenure?: RunningController | undefined } = {}
  // Every API call reads Consul as its caller: one client per call, all on one connection pool.
  const callerAgent = sharedConsulAgent(config.consulAddr)
  const http = buildHttpApi({
    config,
    kvFor: (token) => new ConsulKv(config.consulAddr, token, callerAgent),
    nomad: new NomadApi(config.nomadAddr, config.nomadToken, config.nomadNamespace),
    images:
      config.s3 &&
      new ImageStore(minioObjectStore(s3Client(config.s3), ARTIFACTS_BUCKET), undefined, config.images),
    components:
      config.s3 &&
      new ComponentStore(minioObjectStore(s3Client(config.s3), ARTIFACTS_BUCKET), undefined, config.components),
    metrics,
    state: () => ({ role: current.election?.role ?? 'candidate', synced: current.tenure?.synced ?? false }),
    log,
  })
  await http.listen({ host: config.http.host, port: config.http.port })
  // Port 0 in the config means any free port; the Consul check needs the real one.
  const port = (http.server.address() as { port: number }).port
  const election = (current.election = new LeaderElection(
    createConsul(config.consulAddr, config.consulToken),
    new ConsulKv(config.consulAddr, config.consulToken),
    {
      key: config.leaderKey,
      lockDelay: config.lockDelay,
      instanceId: config.instanceId,
      address: config.http.host,
      port,
    },
    log.child({ component: 'election' }),
  ))
  const url = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`

  const abort = new AbortController()
  const running = election.run(async (signal) => {
    metrics.setLeader(true)
    const tenure = (current.tenure = startController(config, log, metrics))
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
    await tenure.stop()
    current.tenure = undefined
    metrics.setLeader(false)
    log.info('controller tenure ended')
  }, abort.signal)
  log.info(
    { url, instance: config.instanceId, leaderKey: config.leaderKey },
    'controller service listening; campaigning for leadership',
  )

  return {
    url,
    http,
    async stop() {
      abort.abort()
      await running
      await http.close()
      callerAgent.destroy()
    },
  }
}
