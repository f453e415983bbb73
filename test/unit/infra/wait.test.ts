import assert from 'node:assert/strict'
import { test } from 'node:test'
import { waitFor } from '../../../infra/cloud/wait.ts'

test('waitFor returns the first truthy result', async () => {
  let calls = 0
  const value = await waitFor(async () => (++calls >= 3 ? 'ready' : false), { timeoutMs: 5000, intervalMs: 1, what: 'x' })
  assert.equal(value, 'ready')
  assert.equal(calls, 3)
})

test('waitFor times out naming what it waited for and the last error', async () => {
  await assert.rejects(
    waitFor(
      async () => {
        throw new Error('connection refused')
      },
      { timeoutMs: 30, intervalMs: 5, what: 'the moon' },
    ),
    (err: Error & { code?: string }) =>
      err.code === 'LEAN_ERR_CLOUD_TIMEOUT' && /the moon/.test(err.message) && /connection refused/.test(err.message),
  )
})

test('waitFor stops at once on a fatal error', async () => {
  const fatal = Object.assign(new Error('process exited'), { fatal: true })
  const started = Date.now()
  await assert.rejects(
    waitFor(
      async () => {
        throw fatal
      },
      { timeoutMs: 10_000, intervalMs: 5, what: 'x', isFatal: (err) => (err as { fatal?: boolean }).fatal === true },
    ),
    (err) => err === fatal,
  )
  assert.ok(Date.now() - started < 5000)
})
