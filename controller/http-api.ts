// The controller's HTTP API: liveness, readiness, Prometheus metrics and the
// app documents' JSON Schema (none of them names an app), a read-only view of each app's spec and status, read
// fresh from Consul KV with the caller's token, the VM API (vm-api.ts,
// image-api.ts), whose reads and writes go through Consul KV with the caller's
// token, writes with check-and-set like any operator's, and component uploads
// (component-api.ts). Any app's document is written and deleted the same way
// (app-store.ts): PUT and DELETE /v1/apps/:name with If-Match: <specIndex>,
// and checked without writing with POST /v1/apps/:name/validate.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify'
import type { Logger } from 'pino'
import { appDocumentSchemaText, SCHEMA_MEDIA_TYPE } from '../jobs/app-document-schema.ts'
import type { AppStatus } from './app-status.ts'
import type { ControllerConfig } from './config.ts'
import { type KvEntry } from './consul-kv.ts'
import { appNameOf } from '../ground/kv-layout.ts'
import type { ControllerMetrics } from './controller-metrics.ts'
import { backend, ifMatch, installErrorHandler, notFound } from './api-errors.ts'
import { AppStore } from './app-store.ts'
import { registerComponentRoutes } from './component-api.ts'
import type { ComponentStore } from './component-store.ts'
import { registerImageRoutes } from './image-api.ts'
import type { ImageStore } from './image-store.ts'
import type { Role } from './leader-election.ts'
import { registerVmRoutes } from './vm-api.ts'
import { appAddresses, type VmNomad } from './vm-runtime.ts'
import { assertMayRead, assertMayWrite, callerToken, callsAs } from './caller-token.ts'
import { VmStore, type KvForCaller, type VmKv } from './vm-store.ts'

export interface ControllerState {
  readonly role: Role
  /** The leader's sources have listed everything once. */
  readonly synced: boolean
}

export interface AppView {
  readonly name: string
  /** The stored document, parsed when it is JSON, else the raw text. */
  readonly spec: unknown
  readonly specIndex: number
  readonly status: AppStatus | null
}

/** One app as GET /v1/apps/:name shows it: with where its running allocations listen. */
export interface AppDetail extends AppView {
  /** host:port of every port of its running allocations (Nomad's view, read now). */
  readonly addresses: readonly string[]
  /** Why addresses is empty when Nomad could not be read. */
  readonly runtimeError?: string
}

const parsed = (entry: KvEntry): unknown => {
  try {
    return JSON.parse(entry.value)
  } catch {
    return entry.value
  }
}

export interface HttpApiDeps {
  readonly config: ControllerConfig
  /** Consul KV with the caller's token: every read and write of the API goes through it, never the controller's. */
  readonly kvFor: KvForCaller
  readonly nomad: VmNomad
  /** VM images in S3; undefined without the controller's S3 settings (the image endpoints answer 503). */
  readonly images: ImageStore | undefined
  /** Components in S3; undefined without the controller's S3 settings (the component endpoints answer 503). */
  readonly components: ComponentStore | undefined
  readonly metrics: ControllerMetrics
  readonly state: () => ControllerState
  readonly log: Logger
}

export function buildHttpApi(deps: HttpApiDeps): FastifyInstance {
  const { config, metrics, state } = deps
  /** Consul KV as the request's caller, each call's refusal a 403 naming what was read. */
  const reader = (req: FastifyRequest) => {
    const kv = deps.kvFor(callerToken(req))
    return <T>(what: string, call: (kv: VmKv) => Promise<T>): Promise<T> =>
      callsAs(kv, `reading ${what}`)(call)
  }
  // No line per request: Consul checks /health every second.
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  })

  installErrorHandler(app)

  app.get('/health', async () => ({ status: 'ok' }))

  // A follower is ready (it stands by); a leader once its watches have listed everything.
  app.get('/ready', async (_req, reply) => {
    const { role, synced } = state()
    const ready = role === 'follower' || (role === 'leader' && synced)
    const reason = ready
      ? undefined
      : role === 'candidate'
        ? 'not yet in touch with Consul'
        : 'first listing of specs and jobs not done'
    return reply.code(ready ? 200 : 503).send({ ready, role, ...(reason && { reason }) })
  })

  app.get('/metrics', async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()),
  )

  // The same for every cloud (its ceilings are not in it) and generated from the validator's own
  // field table: it names no app and reads nothing from Consul, so, like /metrics, it needs no
  // token, and an editor can fetch it by URL.
  const schema = appDocumentSchemaText()
  app.get('/v1/schema', async (_req, reply) => reply.type(SCHEMA_MEDIA_TYPE).send(schema))

  app.get('/v1/apps', async (req) => {
    const read = reader(req)
    const [specs, statuses] = await Promise.all([
      read(config.appsPrefix, (kv) => kv.list(config.appsPrefix)),
      read(config.statusPrefix, (kv) => kv.list(config.statusPrefix)),
    ])
    const statusOf = new Map(
      statuses.entries.map((e) => [e.key.slice(config.statusPrefix.length), parsed(e) as AppStatus]),
    )
    const apps: AppView[] = specs.entries.flatMap((e) => {
      const name = appNameOf(config.appsPrefix, e.key)
      return name
        ? [{ name, spec: parsed(e), specIndex: e.modifyIndex, status: statusOf.get(name) ?? null }]
        : []
    })
    return { apps }
  })

  app.get<{ Params: { name: string } }>('/v1/apps/:name', async (req) => {
    const { name } = req.params
    const read = reader(req)
    const [spec, status] = await Promise.all([
      read(config.appsPrefix + name, (kv) => kv.get(config.appsPrefix + name)),
      read(config.statusPrefix + name, (kv) => kv.get(config.statusPrefix + name)),
    ])
    if (!spec) throw notFound(`no app named ${name} under ${config.appsPrefix}`)
    // Nomad's view only of a document the caller could read; the document is worth showing without it.
    let addresses: string[] = []
    let runtimeError: string | undefined
    try {
      addresses = await backend('Nomad', () => appAddresses(deps.nomad, name))
    } catch (err) {
      runtimeError = (err as Error).message
    }
    const view: AppDetail = {
      name,
      spec: parsed(spec),
      specIndex: spec.modifyIndex,
      status: status ? (parsed(status) as AppStatus) : null,
      addresses,
      ...(runtimeError !== undefined && { runtimeError }),
    }
    return view
  })

  const apps = new AppStore(config.appsPrefix, deps.kvFor, config.appLimits)
  type Named = { Params: { name: string } }
  app.put<Named & { Body: unknown }>('/v1/apps/:name', async (req, reply) => {
    const written = await apps.put(
      req.params.name,
      req.body,
      callerToken(req),
      ifMatch(req.headers['if-match']),
    )
    return reply.code(written.created ? 201 : 200).send(written)
  })
  app.delete<Named>('/v1/apps/:name', async (req, reply) => {
    await apps.remove(req.params.name, callerToken(req), ifMatch(req.headers['if-match']))
    return reply.code(204).send()
  })
  // The validator alone, as a write would run it: nothing is read or written.
  app.post<Named & { Body: unknown }>('/v1/apps/:name/validate', async (req) => {
    callerToken(req)
    apps.validated(req.params.name, req.body)
    return { name: req.params.name, valid: true }
  })

  registerVmRoutes(app, {
    vms: new VmStore(config.appsPrefix, config.statusPrefix, deps.kvFor, config.appLimits),
    nomad: deps.nomad,
  })
  // Artefacts (images, components): reads need a token that may read desired state, uploads one that may write it.
  const artifactAccess = {
    mayRead: (req: FastifyRequest) =>
      backend('Consul', () => assertMayRead(deps.kvFor(callerToken(req)), config.appsPrefix)),
    mayWrite: (req: FastifyRequest) =>
      backend('Consul', () => assertMayWrite(deps.kvFor(callerToken(req)), config.appsPrefix)),
  }
  registerImageRoutes(app, deps.images, artifactAccess)
  registerComponentRoutes(app, deps.components, artifactAccess)
  return app
}
