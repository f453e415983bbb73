// TaskStats: one message per collection interval with the real CPU and
// memory use of the task's process tree (the wasmtime host), read from /proc, until the task ends or Nomad cancels.
import type { ServerWritableStream } from '@grpc/grpc-js'
import { CpuUsageField, MemoryUsageField } from './proto/load.ts'
import { coreMhz, cpuPercent, type ProcSample } from '../../ground/proc-stats.ts'

type Obj = Record<string, unknown>

/** Whose usage a stream reports: a task's process (the wasm host or runner tree; a VM's QEMU). */
export interface StatsSource {
  readonly id: string
  readonly pid: number
  readonly ended: () => boolean
  readonly sample: (pid: number) => Promise<ProcSample | undefined>
}

export function streamTaskStats(call: ServerWritableStream<Obj, Obj>, source: StatsSource, intervalMs: number): void {
  const mhz = coreMhz()
  let previous: ProcSample | undefined
  let stopped = false
  const stop = () => {
    stopped = true
    clearInterval(timer)
  }
  const tick = async () => {
    const sample = await source.sample(source.pid)
    if (stopped) return
    if (!sample || source.ended()) {
      stop()
      call.end()
      return
    }
    const cpu = previous ? cpuPercent(previous, sample) : { total: 0, user: 0, system: 0 }
    previous = sample
    const now = Date.now()
    call.write({
      stats: {
        id: source.id,
        // Every message must carry a timestamp and aggregate usage: the client dereferences both.
        timestamp: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
        agg_resource_usage: {
          cpu: {
            user_mode: cpu.user,
            system_mode: cpu.system,
            percent: cpu.total,
            total_ticks: (cpu.total / 100) * mhz,
            measured_fields: [CpuUsageField.USER_MODE, CpuUsageField.SYSTEM_MODE, CpuUsageField.PERCENT, CpuUsageField.TOTAL_TICKS],
          },
          memory: {
            rss: sample.rssBytes,
            usage: sample.rssBytes,
            max_usage: sample.maxRssBytes,
            measured_fields: [MemoryUsageField.RSS, MemoryUsageField.USAGE, MemoryUsageField.MAX_USAGE],
          },
        },
        resource_usage_by_pid: {},
      },
    })
  }
  const timer = setInterval(() => void tick(), Math.max(intervalMs, 100))
  void tick()
  call.on('cancelled', stop)
  call.on('close', stop)
}
