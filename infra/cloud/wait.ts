// Wait-for-condition with a deadline: the one way this project waits for the
// world to change (never a fixed sleep).
import { setTimeout as delay } from 'node:timers/promises'
import { CloudError } from './errors.ts'

export interface WaitOptions {
  readonly timeoutMs: number
  /** Describes what is awaited, for the timeout message: "Consul to elect a leader". */
  readonly what: string
  readonly intervalMs?: number
  /** Called about every progressEveryMs with the time waited so far. */
  readonly onProgress?: (waitedMs: number, lastError: unknown) => void
  readonly progressEveryMs?: number
  /** An error for which waiting longer is pointless (the process died): rethrown at once. */
  readonly isFatal?: (err: unknown) => boolean
}

/**
 * Polls `check` until it returns a value other than false/undefined, and
 * returns that value. A check that throws counts as "not yet"; its last error
 * is attached to the timeout error.
 */
export async function waitFor<T>(check: () => Promise<T | false | undefined>, options: WaitOptions): Promise<T> {
  const started = Date.now()
  const interval = options.intervalMs ?? 100
  const progressEvery = options.progressEveryMs ?? 5000
  let nextProgress = started + progressEvery
  let lastError: unknown
  for (;;) {
    try {
      const result = await check()
      if (result !== false && result !== undefined) return result
    } catch (err) {
      if (options.isFatal?.(err)) throw err
      lastError = err
    }
    const now = Date.now()
    if (now - started >= options.timeoutMs) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new CloudError('LEAN_ERR_CLOUD_TIMEOUT', `timed out after ${options.timeoutMs} ms waiting for ${options.what}${detail}`, {
        cause: lastError,
      })
    }
    if (options.onProgress && now >= nextProgress) {
      options.onProgress(now - started, lastError)
      nextProgress = now + progressEvery
    }
    await delay(interval)
  }
}
