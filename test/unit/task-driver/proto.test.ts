import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { MethodDefinition } from '@grpc/grpc-js'
import {
  decodeStatusDetails,
  encodeRecoverableErrorDetails,
  loadProtocol,
  protocolRoot,
  RECOVERABLE_ERROR_TYPE_URL,
  type ServiceName,
} from '../../../task-driver/kit/proto/load.ts'

// ---- A tiny independent protobuf wire codec, so the assertions do not trust protobufjs ----

type WireField = { field: number; wire: number; value: bigint | Buffer }

function varint(n: bigint | number): Buffer {
  let v = BigInt(n)
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return Buffer.from(out)
}
const tag = (field: number, wire: number) => varint((field << 3) | wire)
const vField = (field: number, n: bigint | number) => Buffer.concat([tag(field, 0), varint(n)])
const lenField = (field: number, body: Buffer | string) => {
  const b = typeof body === 'string' ? Buffer.from(body) : body
  return Buffer.concat([tag(field, 2), varint(b.length), b])
}
const doubleField = (field: number, d: number) => {
  const b = Buffer.alloc(8)
  b.writeDoubleLE(d)
  return Buffer.concat([tag(field, 1), b])
}

function parse(buf: Uint8Array): WireField[] {
  const b = Buffer.from(buf)
  const fields: WireField[] = []
  let pos = 0
  const readVarint = () => {
    let [result, shift] = [0n, 0n]
    for (;;) {
      const byte = b[pos++]
      if (byte === undefined) throw new Error('truncated varint')
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
      shift += 7n
    }
  }
  while (pos < b.length) {
    const key = Number(readVarint())
    const [field, wire] = [key >> 3, key & 7]
    if (wire === 0) fields.push({ field, wire, value: readVarint() })
    else if (wire === 1) fields.push({ field, wire, value: b.subarray(pos, (pos += 8)) })
    else if (wire === 5) fields.push({ field, wire, value: b.subarray(pos, (pos += 4)) })
    else if (wire === 2) {
      const len = Number(readVarint())
      fields.push({ field, wire, value: b.subarray(pos, (pos += len)) })
    } else throw new Error(`unexpected wire type ${wire}`)
  }
  return fields
}
function only(fields: WireField[], field: number): WireField {
  const hits = fields.filter((f) => f.field === field)
  assert.equal(hits.length, 1, `expected exactly one field #${field}, got ${hits.length}`)
  return hits[0]!
}
const bytesOf = (f: WireField) => (assert.ok(Buffer.isBuffer(f.value)), f.value as Buffer)
/** The sub-message in field `n`, parsed. */
const sub = (fields: WireField[], n: number) => parse(bytesOf(only(fields, n)))
/** The string in field `n`. */
const str = (fields: WireField[], n: number) => bytesOf(only(fields, n)).toString()
/** Entries of the map in field `n` (entry key=1 string, value=2 message), by key. */
const mapOf = (fields: WireField[], n: number) =>
  new Map(
    fields.filter((f) => f.field === n).map((f) => [str(parse(bytesOf(f)), 1), sub(parse(bytesOf(f)), 2)]),
  )

/** Walks a decoded message along `path`, asserting every step is an object. */
function at(value: unknown, ...path: string[]): unknown {
  let v = value
  for (const key of path) {
    assert.ok(v !== null && typeof v === 'object', `no object before ${key}`)
    v = (v as Record<string, unknown>)[key]
  }
  return v
}

function method(service: ServiceName, name: string): MethodDefinition<object, object> {
  const def = loadProtocol().services[service][name]
  assert.ok(def, `${service}.${name} is defined`)
  return def
}

// ---- Tests ----

test('PluginInfoResponse encodes to the exact bytes Nomad expects', () => {
  const bytes = method('BasePlugin', 'PluginInfo').responseSerialize({
    type: 2,
    plugin_api_versions: ['0.1.0'],
    plugin_version: '0.1.0',
    name: 'wasm',
  })
  const hex = (h: string) => Buffer.from(h, 'hex')
  const expected = [hex('08021205'), '0.1.0', hex('1a05'), '0.1.0', hex('2204'), 'wasm']
  assert.deepEqual(bytes, Buffer.concat(expected.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))))
})

test('every RPC exists at its gRPC path with the right streaming kind', () => {
  const table = `
    BasePlugin     /hashicorp.nomad.plugins.base.proto.BasePlugin/PluginInfo           unary
    BasePlugin     /hashicorp.nomad.plugins.base.proto.BasePlugin/ConfigSchema         unary
    BasePlugin     /hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig            unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/Init                  unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/TaskConfigSchema      unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/Capabilities          unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/Fingerprint           server
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/RecoverTask           unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/StartTask             unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/WaitTask              unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/StopTask              unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/DestroyTask           unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/InspectTask           unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/TaskStats             server
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/TaskEvents            server
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/Shutdown              unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/SignalTask            unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/ExecTask              unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/ExecTaskStreaming     bidi
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/CreateNetwork         unary
    Driver         /hashicorp.nomad.plugins.drivers.proto.Driver/DestroyNetwork        unary
    GRPCController /plugin.GRPCController/Shutdown                                     unary
    GRPCStdio      /plugin.GRPCStdio/StreamStdio                                       server
    GRPCBroker     /plugin.GRPCBroker/StartStream                                      bidi
    Health         /grpc.health.v1.Health/Check                                        unary
    Health         /grpc.health.v1.Health/Watch                                        server`
  const rows = table.trim().split('\n')
  for (const row of rows) {
    const [service, path, kind] = row.trim().split(/\s+/) as [ServiceName, string, string]
    const m = method(service, path.split('/').pop()!)
    assert.equal(m.path, path)
    assert.equal(m.requestStream, kind === 'bidi', `${path} requestStream`)
    assert.equal(m.responseStream, kind !== 'unary', `${path} responseStream`)
  }
  const services = loadProtocol().services
  const total = Object.values(services).reduce((n, def) => n + Object.keys(def).length, 0)
  assert.equal(total, rows.length, 'no RPC beyond the table')
})

test('GRPCStdio takes google.protobuf.Empty while GRPCController uses plugin.Empty', () => {
  const root = protocolRoot()
  const stdio = root.lookupService('plugin.GRPCStdio').methods['StreamStdio']
  const ctl = root.lookupService('plugin.GRPCController').methods['Shutdown']
  assert.equal(stdio?.resolvedRequestType?.fullName, '.google.protobuf.Empty')
  assert.equal(stdio?.resolvedResponseType?.fullName, '.plugin.StdioData')
  assert.equal(ctl?.resolvedRequestType?.fullName, '.plugin.Empty')
  assert.equal(ctl?.resolvedResponseType?.fullName, '.plugin.Empty')
})

test('StartTaskRequest from Nomad decodes with wire field numbers (alloc_dir=10, memory_mb=2, ...)', () => {
  const memory = Buffer.concat([vField(2, 256), vField(3, 512)])
  const allocated = Buffer.concat([lenField(1, vField(1, 100)), lenField(2, memory)])
  const linux = Buffer.concat([doubleField(8, 12.5), lenField(9, '/nomad.slice/x')])
  const task = Buffer.concat([
    lenField(1, 'alloc-1/web/abcdefgh'),
    lenField(3, Buffer.from([0x81, 0xa1, 0x61, 0x01])),
    lenField(4, Buffer.concat([lenField(1, 'NOMAD_TASK_NAME'), lenField(2, 'web')])),
    lenField(6, Buffer.concat([lenField(1, allocated), lenField(2, linux)])),
    lenField(10, '/var/nomad/alloc/alloc-1'),
    lenField(11, '/var/nomad/alloc/alloc-1/alloc/logs/.web.stdout.fifo'),
    lenField(16, Buffer.concat([vField(1, 1), lenField(4, lenField(1, 'myhost'))])),
    lenField(22, 'parent'),
  ])
  const t = at(method('Driver', 'StartTask').requestDeserialize(lenField(1, task)), 'task')
  assert.equal(at(t, 'id'), 'alloc-1/web/abcdefgh')
  assert.deepEqual(at(t, 'msgpack_driver_config'), Buffer.from([0x81, 0xa1, 0x61, 0x01]))
  assert.deepEqual(at(t, 'env'), { NOMAD_TASK_NAME: 'web' })
  assert.equal(at(t, 'alloc_dir'), '/var/nomad/alloc/alloc-1')
  assert.equal(at(t, 'stdout_path'), '/var/nomad/alloc/alloc-1/alloc/logs/.web.stdout.fifo')
  assert.equal(at(t, 'parent_job_id'), 'parent')
  // int64 fields arrive as plain numbers (longs: Number).
  assert.strictEqual(at(t, 'resources', 'allocated_resources', 'memory', 'memory_mb'), 256)
  assert.strictEqual(at(t, 'resources', 'allocated_resources', 'memory', 'memory_max_mb'), 512)
  assert.strictEqual(at(t, 'resources', 'allocated_resources', 'cpu', 'cpu_shares'), 100)
  assert.deepEqual(at(t, 'resources', 'allocated_resources', 'networks'), [])
  assert.equal(at(t, 'resources', 'linux_resources', 'PercentTicks'), 12.5)
  assert.equal(at(t, 'resources', 'linux_resources', 'cpuset_cgroup'), '/nomad.slice/x')
  assert.equal(at(t, 'network_isolation_spec', 'mode'), 1)
  assert.equal(at(t, 'network_isolation_spec', 'hostsConfig', 'hostname'), 'myhost')
  // defaults: true -> absent scalars are empty, absent messages are null.
  assert.equal(at(t, 'user'), '')
  assert.equal(at(t, 'dns'), null)
  assert.deepEqual(at(t, 'mounts'), [])
})

test('TaskStats memory fields use the odd numbering (usage=7, swap=8, measured_fields=6)', () => {
  const big = 5_000_000_000
  const bytes = method('Driver', 'TaskStats').responseSerialize({
    stats: {
      id: 'alloc-1/web/abcdefgh',
      timestamp: { seconds: 1_700_000_000, nanos: 5 },
      agg_resource_usage: {
        memory: { rss: 1, usage: big, swap: 3, measured_fields: [0, 5, 6] },
        cpu: { percent: 1.5, throttled_time: 9, measured_fields: [5, 4] },
      },
    },
  })
  const stats = sub(parse(bytes), 1)
  assert.equal(only(sub(stats, 2), 1).value, 1_700_000_000n)
  const mem = sub(sub(stats, 3), 2)
  assert.equal(only(mem, 1).value, 1n)
  assert.equal(only(mem, 7).value, BigInt(big))
  assert.equal(only(mem, 8).value, 3n)
  assert.deepEqual(bytesOf(only(mem, 6)), Buffer.from([0, 5, 6]))
  const cpu = sub(sub(stats, 3), 1)
  assert.equal(bytesOf(only(cpu, 6)).readDoubleLE(), 1.5)
  assert.equal(only(cpu, 5).value, 9n)
  assert.deepEqual(bytesOf(only(cpu, 7)), Buffer.from([5, 4]))
})

test('FingerprintResponse: attributes=1 (Attribute oneof), health=2, description=3, err=4', () => {
  const bytes = method('Driver', 'Fingerprint').responseSerialize({
    attributes: { 'driver.wasm': { bool_val: true }, 'driver.wasm.version': { string_val: '1.0' } },
    health: 2,
    health_description: 'Healthy',
    err: 'x',
  })
  const top = parse(bytes)
  assert.equal(only(top, 2).value, 2n)
  assert.equal(str(top, 3), 'Healthy')
  assert.equal(str(top, 4), 'x')
  const attrs = mapOf(top, 1)
  assert.equal(only(attrs.get('driver.wasm')!, 4).value, 1n)
  assert.equal(str(attrs.get('driver.wasm.version')!, 3), '1.0')
})

test('DriverCapabilities: fs_isolation=3, packed isolation modes=4, mount_configs=6, 8 and 9', () => {
  const bytes = method('Driver', 'Capabilities').responseSerialize({
    capabilities: {
      send_signals: true,
      fs_isolation: 2,
      network_isolation_modes: [0, 1],
      mount_configs: 1,
      disable_log_collection: true,
      dynamic_workload_users: true,
    },
  })
  const caps = sub(parse(bytes), 1)
  assert.deepEqual(
    caps.map((f) => f.field),
    [1, 3, 4, 6, 8, 9],
  )
  assert.equal(only(caps, 3).value, 2n)
  assert.deepEqual(bytesOf(only(caps, 4)), Buffer.from([0, 1]))
  assert.equal(only(caps, 6).value, 1n)
})

test('hclspec Spec: object=1, Attr=3, default=9, literal=10 and node fields', () => {
  const spec = {
    object: {
      attributes: {
        module: { Attr: { type: 'string', required: true } },
        entrypoint: {
          default: {
            primary: { Attr: { name: 'entrypoint', type: 'string' } },
            default: { literal: { value: '"_start"' } },
          },
        },
      },
    },
  }
  const bytes = method('Driver', 'TaskConfigSchema').responseSerialize({ spec })
  const entries = mapOf(sub(sub(parse(bytes), 1), 1), 1)
  const attr = sub(entries.get('module')!, 3)
  assert.equal(str(attr, 2), 'string')
  assert.equal(only(attr, 3).value, 1n)
  const def = sub(entries.get('entrypoint')!, 9)
  assert.equal(str(sub(sub(def, 1), 3), 1), 'entrypoint')
  assert.equal(str(sub(sub(def, 2), 10), 1), '"_start"')
  // oneofs: true names the member that is set when decoding.
  const back = method('Driver', 'TaskConfigSchema').responseDeserialize(bytes) as { spec: { block: string } }
  assert.equal(back.spec.block, 'object')
})

test('SetConfigRequest keeps wire-side capitalised names and nomad_config may be absent', () => {
  const m = method('BasePlugin', 'SetConfig')
  const driverCfg = Buffer.concat([vField(1, 20000), vField(2, 14000)])
  const full = m.requestDeserialize(
    Buffer.concat([lenField(2, lenField(1, driverCfg)), lenField(3, '0.1.0')]),
  )
  assert.equal(at(full, 'nomad_config', 'driver', 'ClientMaxPort'), 20000)
  assert.equal(at(full, 'nomad_config', 'driver', 'ClientMinPort'), 14000)
  assert.equal(at(full, 'plugin_api_version'), '0.1.0')
  const validation = m.requestDeserialize(Buffer.alloc(0))
  assert.equal(at(validation, 'nomad_config'), null)
  assert.deepEqual(at(validation, 'msgpack_config'), Buffer.alloc(0))
})

test('StopTaskRequest timeout is a Duration with numeric seconds', () => {
  const req = method('Driver', 'StopTask').requestDeserialize(
    Buffer.concat([
      lenField(1, 'id'),
      lenField(2, Buffer.concat([vField(1, 5), vField(2, 1000)])),
      lenField(3, 'SIGINT'),
    ]),
  )
  assert.deepEqual(at(req, 'timeout'), { seconds: 5, nanos: 1000 })
  assert.equal(at(req, 'signal'), 'SIGINT')
})

test('TaskHandle sent in StartTaskResponse comes back intact in RecoverTaskRequest', () => {
  const handle = {
    version: 1,
    config: { id: 'a/b/c', alloc_dir: '/x', env: { A: '1' } },
    state: 1,
    driver_state: Buffer.from('{"pid":1}'),
  }
  const handleBytes = bytesOf(only(parse(method('Driver', 'StartTask').responseSerialize({ handle })), 3))
  const back = method('Driver', 'RecoverTask').requestDeserialize(lenField(2, handleBytes))
  assert.equal(at(back, 'task_id'), '')
  assert.equal(at(back, 'handle', 'version'), 1)
  assert.equal(at(back, 'handle', 'state'), 1)
  assert.equal(at(back, 'handle', 'config', 'alloc_dir'), '/x')
  assert.deepEqual(at(back, 'handle', 'config', 'env'), { A: '1' })
  assert.deepEqual(at(back, 'handle', 'driver_state'), Buffer.from('{"pid":1}'))
})

test('health Check: service=1 in, status=1 out', () => {
  const m = method('Health', 'Check')
  assert.deepEqual(m.requestDeserialize(lenField(1, 'plugin')), { service: 'plugin' })
  assert.deepEqual(m.responseSerialize({ status: 1 }), Buffer.from([0x08, 0x01]))
})

test('encodeRecoverableErrorDetails produces a google.rpc.Status with a RecoverableError first detail', () => {
  const bytes = encodeRecoverableErrorDetails('module not found', true)
  const status = parse(bytes)
  assert.equal(only(status, 1).value, 9n)
  assert.equal(str(status, 2), 'module not found')
  const any = sub(status, 3)
  assert.equal(str(any, 1), 'type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError')
  assert.deepEqual(bytesOf(only(any, 2)), Buffer.from([0x08, 0x01]))

  assert.deepEqual(decodeStatusDetails(bytes), {
    code: 9,
    message: 'module not found',
    detailTypeUrls: [RECOVERABLE_ERROR_TYPE_URL],
    recoverable: true,
  })
  const fatal = decodeStatusDetails(encodeRecoverableErrorDetails('bad config', false))
  assert.equal(fatal.recoverable, false)
  assert.equal(fatal.message, 'bad config')
  assert.equal(decodeStatusDetails(encodeRecoverableErrorDetails('x', true, 14)).code, 14)
})
