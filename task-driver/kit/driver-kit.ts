// What every driver of ours serves the same way: the task-event stream
// Nomad subscribes to, and the fingerprint stream it keeps open (first
// answer at once, then one every 30 s, until Nomad hangs up). The messages
// are typed here with the fields our drivers send (driver.proto).
import type { ServerWritableStream } from '@grpc/grpc-js'
import { HealthState } from './proto/load.ts'
import { timestamp } from './messages.ts'

/** A task event as Nomad shows it on the allocation. */
export interface TaskEvent {
  readonly task_id: string
  readonly alloc_id: string
  readonly task_name: string
  readonly message: string
  readonly annotations?: Readonly<Record<string, string>>
}

export type Health = (typeof HealthState)[keyof typeof HealthState]

/** One fingerprint: the driver's health and the node attributes it adds. */
export interface Fingerprint {
  readonly health: Health
  readonly health_description: string
  readonly attributes: Readonly<Record<string, { string_val: string }>>
}

const FINGERPRINT_INTERVAL_MS = 30_000

/** The TaskEvents streams Nomad holds open; `emit` writes to each. */
export class TaskEventHub {
  readonly #streams = new Set<ServerWritableStream<unknown, unknown>>()

  emit(event: TaskEvent): void {
    const message = { ...event, timestamp: timestamp(new Date()), annotations: event.annotations ?? {} }
    for (const stream of this.#streams) stream.write(message)
  }

  /** The TaskEvents handler: keeps the stream until Nomad closes it. */
  serve(call: ServerWritableStream<unknown, unknown>): void {
    this.#streams.add(call)
    const drop = () => this.#streams.delete(call)
    call.on('cancelled', drop)
    call.on('close', drop)
  }
}

/**
 * The Fingerprint handler: `first` (if any) at once, then `current()` now and
 * every 30 s; nothing is written after Nomad hangs up.
 */
export function serveFingerprints(call: ServerWritableStream<unknown, unknown>, current: () => Promise<Fingerprint>, first?: Fingerprint): void {
  let stopped = false
  const send = async () => {
    const message = await current()
    if (!stopped) call.write(message)
  }
  if (first) call.write(first)
  void send()
  const timer = setInterval(() => void send(), FINGERPRINT_INTERVAL_MS)
  const stop = () => {
    stopped = true
    clearInterval(timer)
  }
  call.on('cancelled', stop)
  call.on('close', stop)
}
