// `leanctl wait`: follows the app's status key with Consul blocking queries
// (no polling), printing each change of phase or health as it happens, until
// the app runs (0), fails or is invalid (1), or the timeout passes (124).
import type { AppStatus } from '../../controller/app-status.ts'
import { parseStatus } from '../apps.ts'
import type { Context } from '../context.ts'
import { NotFoundError } from '../errors.ts'

export const EXIT_TIMEOUT = 124
/** Longest single blocking query; the abort signal ends the last one at the deadline. */
const WAIT = '5m'

export async function waitForApp(
  ctx: Context,
  app: string,
  timeout: { ms: number; text: string },
): Promise<number> {
  const spec = await ctx.kv.get(ctx.config.appsPrefix + app)
  if (!spec) throw new NotFoundError(`app/${app} not found (no key ${ctx.config.appsPrefix}${app})`)
  const key = ctx.config.statusPrefix + app
  const signal = AbortSignal.timeout(timeout.ms)
  let index = 0
  let printed = ''
  let phase = 'pending'
  try {
    for (;;) {
      const { entry, index: next } = await ctx.kv.getWithIndex(
        key,
        index === 0 ? { signal } : { index, wait: WAIT, signal },
      )
      const stored = entry ? parseStatus(entry.value) : undefined
      // A status about an older version of the spec (the controller has not caught up) says nothing about this one.
      const status: AppStatus | undefined =
        stored !== undefined && stored !== 'unreadable' && stored.observedIndex >= spec.modifyIndex
          ? stored
          : undefined
      phase = status?.phase ?? 'pending'
      const line = status
        ? `app/${app} ${status.phase} (healthy ${status.healthy}/${status.desired})`
        : `app/${app} pending`
      if (line !== printed) ctx.io.out(`${line}\n`)
      printed = line
      if (phase === 'running' || phase === 'stopped') return 0 // stopped: as asked (count 0, or a vm with state stopped)
      if (status && (status.phase === 'failed' || status.phase === 'invalid')) {
        ctx.io.err(`error: app/${app} is ${status.phase}: ${status.lastError ?? 'no error recorded'}\n`)
        return 1
      }
      // Consul's rule: an index that goes backwards (a restarted agent) means start over.
      index = next < index ? 0 : Math.max(next, 1)
    }
  } catch (err) {
    if (!signal.aborted) throw err
    ctx.io.err(
      `error: timed out after ${timeout.text} waiting for app/${app} to be running (phase: ${phase})\n`,
    )
    return EXIT_TIMEOUT
  }
}
