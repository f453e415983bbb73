import assert from 'node:assert/strict'
import { test } from 'node:test'
import { appNameOf, loadControllerKeys } from '../../../ground/kv-layout.ts'

class Refused extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`${variable}: ${reason}`)
  }
}
const refuse = (variable: string, reason: string): never => {
  throw new Refused(variable, reason)
}

test("the controller's keys: defaults, and every bad value refused through the caller's own error, naming the variable", () => {
  assert.deepEqual(loadControllerKeys({}, refuse), { appsPrefix: 'lean-cloud/apps/', statusPrefix: 'lean-cloud/status/', leaderKey: 'lean-cloud/leader' })
  const cases: Array<[Record<string, string>, string]> = [
    [{ LEAN_APPS_PREFIX: 'no-slash' }, 'LEAN_APPS_PREFIX'],
    [{ LEAN_STATUS_PREFIX: 'a b/' }, 'LEAN_STATUS_PREFIX'],
    [{ LEAN_LEADER_KEY: 'ends/' }, 'LEAN_LEADER_KEY'],
    [{ LEAN_APPS_PREFIX: 'x/', LEAN_STATUS_PREFIX: 'x/status/' }, 'LEAN_STATUS_PREFIX'],
    [{ LEAN_LEADER_KEY: 'lean-cloud/apps/leader' }, 'LEAN_LEADER_KEY'],
  ]
  for (const [env, variable] of cases)
    assert.throws(() => loadControllerKeys(env, refuse), (err: unknown) => err instanceof Refused && err.variable === variable && !err.reason.startsWith(variable), JSON.stringify(env))
})

test('an app name is the key below the prefix; the folder itself is none', () => {
  assert.equal(appNameOf('p/apps/', 'p/apps/web'), 'web')
  assert.equal(appNameOf('p/apps/', 'p/apps/a/b'), 'a/b')
  assert.equal(appNameOf('p/apps/', 'p/apps/'), undefined)
})
