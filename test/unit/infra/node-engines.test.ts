// The Node version we state (package.json's engines, the README's quick start)
// and the lock files agree: every locked package accepts the oldest Node that
// package.json allows, so `npm install` on it prints no EBADENGINE warning.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import semver from 'semver'
import { LOCK_FILES } from '../../../infra/licenses/cli.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>
}

async function json<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(path.join(repo, file), 'utf8')) as T
}

test('every package of both lock files runs on the oldest Node that package.json states', async () => {
  const stated = (await json<{ engines: { node: string } }>('package.json')).engines.node
  const oldest = semver.minVersion(stated)
  assert.ok(oldest, `package.json engines.node '${stated}' names no version`)

  const refusing: string[] = []
  for (const lockFile of LOCK_FILES) {
    const lock = await json<Lock>(lockFile)
    for (const [key, entry] of Object.entries(lock.packages)) {
      const wants = Array.isArray(entry.engines) ? undefined : entry.engines?.node
      if (wants !== undefined && !semver.satisfies(oldest, wants))
        refusing.push(`${lockFile}: ${key}@${entry.version} wants node ${wants}`)
    }
  }
  assert.deepEqual(refusing, [], `package.json says node ${stated}`)
})

test("the README's quick start names the same Node as package.json", async () => {
  const stated = (await json<{ engines: { node: string } }>('package.json')).engines.node
  const oldest = semver.minVersion(stated)!
  const readme = await readFile(path.join(repo, 'README.md'), 'utf8')
  const named = /with Node (\d+(?:\.\d+)*)\+/.exec(readme)
  assert.ok(named, 'the README names a Node version as "Node X.Y+"')
  assert.equal(semver.coerce(named[1])?.version, oldest.version)
})
