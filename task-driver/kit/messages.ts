// Small pieces of Nomad's driver messages both of our drivers build the same
// way: protobuf durations and timestamps, and InspectTask's answer.
import { TaskState } from './proto/load.ts'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A google.protobuf.Duration in milliseconds, or `fallback` when Nomad sent none. */
export const durationMs = (d: Obj | null | undefined, fallback: number): number =>
  d ? Number(d.seconds ?? 0) * 1000 + Math.floor(Number(d.nanos ?? 0) / 1e6) : fallback

/** A google.protobuf.Timestamp. */
export const timestamp = (date: Date) => ({
  seconds: Math.floor(date.getTime() / 1000),
  nanos: (date.getTime() % 1000) * 1e6,
})

// Go's zero time, which Nomad reads as "not completed".
const NOT_COMPLETED = { seconds: -62135596800, nanos: 0 }

export interface InspectedTask {
  /** Nomad's task id: <alloc id>/<task name>/<attempt>. */
  readonly id: string
  readonly startedAt: string
  readonly exit:
    { readonly exitCode: number; readonly signal: number; readonly oomKilled?: boolean } | undefined
  readonly attributes: Readonly<Record<string, string>>
}

export function inspectTaskResponse(t: InspectedTask) {
  return {
    task: {
      id: t.id,
      name: t.id.split('/')[1] ?? '',
      state: t.exit ? TaskState.EXITED : TaskState.RUNNING,
      started_at: timestamp(new Date(t.startedAt)),
      completed_at: t.exit ? timestamp(new Date()) : NOT_COMPLETED,
      result: {
        exit_code: t.exit?.exitCode ?? 0,
        signal: t.exit?.signal ?? 0,
        oom_killed: t.exit?.oomKilled ?? false,
      },
    },
    driver: { attributes: t.attributes },
  }
}
