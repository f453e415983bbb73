// The plugin's gRPC server: go-plugin's support services, BasePlugin and
// Driver on one server bound to a private Unix socket, then the handshake
// line on stdout (only once the socket accepts, and nothing before it). Both
// of our drivers (`wasm`, `virt`) serve through it with their own definition.
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js'
import type { Logger } from 'pino'
import { decodeCtyMsgpack } from './cty-msgpack.ts'
import { loadProtocol, PluginType, ServingStatus } from './proto/load.ts'
import type { HclSpec } from './hclspec.ts'
import { unary } from './grpc-errors.ts'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** What one driver plugin brings to the shared server. */
export interface PluginDefinition {
  /** The driver's name in jobs (`driver = "…"`) and the plugin file's name. */
  readonly name: string
  readonly version: string
  /** The agent-side `plugin "<name>" { config { … } }` block's schema. */
  readonly configSpec: HclSpec
  /** Validates and applies the decoded plugin config (throws a coded error naming the attribute). */
  setConfig(raw: Record<string, unknown>): void
  /** The hashicorp.nomad.plugins.drivers.proto.Driver service implementation. */
  readonly driver: Obj
}

export async function servePlugin(log: Logger, plugin: PluginDefinition): Promise<void> {
  const { services } = loadProtocol()
  const server = new Server({
    'grpc.max_receive_message_length': 2 ** 31 - 1,
    'grpc.max_send_message_length': 2 ** 31 - 1,
  })
  // Streams Nomad opens and expects to stay open until it cancels them.
  const holdOpen = (call: ServerWritableStream<Obj, Obj>) => call.on('cancelled', () => call.end())

  let shuttingDown = false
  const shutdown = () => {
    if (shuttingDown) return
    shuttingDown = true
    log.debug('shutdown requested by the plugin host')
    server.tryShutdown(() => process.exit(0))
    setTimeout(() => process.exit(0), 500).unref()
  }

  server.addService(services.Health, {
    Check: unary(() => ({ status: ServingStatus.SERVING })),
    Watch: (call: ServerWritableStream<Obj, Obj>) => {
      call.write({ status: ServingStatus.SERVING })
      holdOpen(call)
    },
  })
  server.addService(services.GRPCController, {
    Shutdown: (_call: unknown, callback: (e: null, r: Obj) => void) => {
      callback(null, {})
      setImmediate(shutdown)
    },
  })
  server.addService(services.GRPCStdio, { StreamStdio: holdOpen })
  server.addService(services.GRPCBroker, {
    StartStream: (call: { on(e: string, f: () => void): void; end(): void }) =>
      call.on('cancelled', () => call.end()),
  })
  server.addService(services.BasePlugin, {
    PluginInfo: unary(() => ({
      type: PluginType.DRIVER,
      plugin_api_versions: ['0.1.0'],
      plugin_version: plugin.version,
      name: plugin.name,
    })),
    ConfigSchema: unary(() => ({ spec: plugin.configSpec })),
    SetConfig: unary((req: Obj) => {
      plugin.setConfig(decodeCtyMsgpack(req.msgpack_config))
      return {}
    }),
  })
  server.addService(services.Driver, plugin.driver)

  const dir = process.env.PLUGIN_UNIX_SOCKET_DIR || os.tmpdir()
  const socket = path.join(dir, `${plugin.name}-driver-${process.pid}-${randomBytes(4).toString('hex')}.sock`)
  await rm(socket, { force: true })
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  )
  const cleanup = () => void rm(socket, { force: true })
  process.once('exit', cleanup)
  // CORE-PROTOCOL | APP-PROTOCOL | NETWORK | ADDRESS | PROTOCOL
  process.stdout.write(`1|2|unix|${socket}|grpc\n`)
  log.info({ socket, version: plugin.version }, `${plugin.name} driver plugin serving`)
}
