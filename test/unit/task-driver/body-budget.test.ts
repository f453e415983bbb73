// A task's capability API holds at most so many calls and so many body bytes
// at once; what a call took is given back when it ends.
import assert from 'node:assert/strict'
import http from 'node:http'
import { test } from 'node:test'
import pino from 'pino'
import { BodyBudget } from '../../../task-driver/capabilities/body-budget.ts'
import { startCapabilityServer } from '../../../task-driver/capabilities/capability-server.ts'
import { parseTaskConfig } from '../../../task-driver/wasm/task-config.ts'

test('calls and body bytes are capped, and given back', () => {
  const b = new BodyBudget({ calls: 2, bytes: 100 })
  assert.equal(b.enter(), true)
  assert.equal(b.enter(), true)
  assert.equal(b.enter(), false, 'a third call at once is refused')
  b.leave()
  assert.equal(b.enter(), true)
  assert.equal(b.take(60), true)
  assert.equal(b.take(50), false, 'past the bytes, nothing taken')
  assert.deepEqual(b.held, { calls: 2, bytes: 60 })
  b.give(60)
  assert.equal(b.take(100), true)
  b.leave()
  b.leave()
  b.leave()
  assert.deepEqual(b.held, { calls: 0, bytes: 100 })
})

test('the capability API refuses a call at once when 64 are under way, and takes calls again when they end', async (t) => {
  // A blob write reads its body before it goes anywhere: a call holding its body open stays under way.
  const grants = parseTaskConfig({ component: '/c.wasm', sha256: 'a'.repeat(64), port: 'http', grants: { buckets: ['budget'] } }).grants
  const nowhere = { endpoint: 'http://127.0.0.1:9', accessKey: 'k', secretKey: 's', region: 'us-east-1' }
  const server = await startCapabilityServer({ app: 'budget', grants }, { buckets: { budget: nowhere } }, 'token', pino({ level: 'silent' }))
  t.after(() => server.close())
  const headers = { authorization: 'Bearer token', 'content-type': 'application/json' }
  // 64 calls that send their headers and hold their bodies open.
  const held = Array.from({ length: 64 }, () => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/blob/budget/x', headers })
    req.on('error', () => {})
    req.write('{"to":')
    return req
  })
  const answer = (): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/blob/budget/x', headers }, (res) => {
        let body = ''
        res.on('data', (c) => (body += String(c)))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      })
      req.on('error', reject)
      req.end('{}')
    })
  const busy = await waitForBusy(answer)
  assert.equal(busy.status, 503)
  assert.match(busy.body, /64 capability calls are under way already.*LEAN_ERR_CAPABILITY_UNAVAILABLE/)
  for (const req of held) req.destroy()
  // Once they end, a call goes through again (to an S3 endpoint where nothing listens: the backend's own answer).
  const again = await waitForAnswer(answer, (a) => !a.body.includes('under way'))
  assert.notEqual(again.status, 503)
  assert.match(again.body, /LEAN_ERR_CAPABILITY_BACKEND|ECONNREFUSED/)
})

/** Asks until the server is busy (the held calls have reached it). */
async function waitForBusy(ask: () => Promise<{ status: number; body: string }>) {
  for (let i = 0; i < 100; i++) {
    const a = await ask()
    if (a.status === 503) return a
    await new Promise((r) => setTimeout(r, 50))
  }
  return assert.fail('the server never said it was busy')
}

async function waitForAnswer(ask: () => Promise<{ status: number; body: string }>, wanted: (a: { status: number; body: string }) => boolean) {
  for (let i = 0; i < 100; i++) {
    const a = await ask()
    if (wanted(a)) return a
    await new Promise((r) => setTimeout(r, 50))
  }
  return assert.fail('the server never took a call again')
}
