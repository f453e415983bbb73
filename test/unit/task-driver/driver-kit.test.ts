import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import type { ServerWritableStream } from '@grpc/grpc-js'
import { serveFingerprints, TaskEventHub, type Fingerprint } from '../../../task-driver/kit/driver-kit.ts'
import { HealthState } from '../../../task-driver/kit/proto/load.ts'
import { waitFor } from '../../../infra/cloud/wait.ts'

/** A stub of the gRPC stream boundary: records writes, closes on demand. */
function stream(): { call: ServerWritableStream<unknown, unknown>; written: unknown[]; close(): void } {
  const emitter = new EventEmitter()
  const written: unknown[] = []
  const call = Object.assign(emitter, { write: (m: unknown) => (written.push(m), true) }) as unknown as ServerWritableStream<unknown, unknown>
  return { call, written, close: () => emitter.emit('close') }
}

test('task events reach every open stream with a timestamp, and none after its close', () => {
  const hub = new TaskEventHub()
  const a = stream()
  const b = stream()
  hub.serve(a.call)
  hub.serve(b.call)
  hub.emit({ task_id: 't', alloc_id: 'a', task_name: 'web', message: 'one' })
  b.close()
  hub.emit({ task_id: 't', alloc_id: 'a', task_name: 'web', message: 'two', annotations: { reason: 'x' } })
  assert.deepEqual(a.written.map((m) => (m as { message: string }).message), ['one', 'two'])
  assert.deepEqual(b.written.map((m) => (m as { message: string }).message), ['one'])
  const first = a.written[0] as { timestamp: unknown; annotations: unknown }
  assert.ok(first.timestamp, 'a timestamp')
  assert.deepEqual(first.annotations, {})
})

test('fingerprints: the first at once, then the current one; nothing is written after Nomad hangs up', async () => {
  const s = stream()
  const healthy: Fingerprint = { health: HealthState.HEALTHY, health_description: 'Healthy', attributes: {} }
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  serveFingerprints(s.call, async () => (await gate, healthy), { health: HealthState.UNDETECTED, health_description: 'probing', attributes: {} })
  assert.deepEqual(s.written.map((m) => (m as Fingerprint).health_description), ['probing'])
  release()
  await waitFor(async () => s.written.length === 2, { timeoutMs: 2000, intervalMs: 5, what: 'the current fingerprint' })
  s.close()
  const late = stream()
  let answer!: () => void
  serveFingerprints(late.call, () => new Promise<Fingerprint>((resolve) => (answer = () => resolve(healthy))))
  late.close()
  answer()
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal(late.written.length, 0)
})
