import assert from 'node:assert/strict'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { LicenseError } from '../../../infra/licenses/errors.ts'
import {
  entriesFromLock,
  licenceFromManifest,
  readNpmPackages,
} from '../../../infra/licenses/npm-packages.ts'

test('licence of a manifest: the SPDX string, an old { type } object, or the legacy licenses array as alternatives', () => {
  assert.equal(licenceFromManifest({ license: 'MIT' }), 'MIT')
  assert.equal(licenceFromManifest({ license: { type: 'ISC', url: 'https://example.com' } }), 'ISC')
  assert.equal(
    licenceFromManifest({ licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }),
    '(MIT OR Apache-2.0)',
  )
  assert.equal(licenceFromManifest({ licenses: ['BSD-3-Clause'] }), 'BSD-3-Clause')
  assert.equal(licenceFromManifest({ license: '' }), undefined)
  assert.equal(licenceFromManifest({ name: 'x' }), undefined)
  assert.equal(licenceFromManifest(undefined), undefined)
})

test('lock entries: not the root, not workspace links; nested and aliased packages by their real name', () => {
  const lock = {
    lockfileVersion: 3,
    packages: {
      '': { name: 'app', version: '1.0.0', license: 'Apache-2.0' },
      'node_modules/a': { version: '1.0.0', license: 'MIT' },
      'node_modules/a/node_modules/@scope/b': { version: '2.0.0', license: 'ISC' },
      'node_modules/old-c': { name: 'c', version: '0.19.3' },
      'node_modules/ws-pkg': { resolved: 'packages/ws-pkg', link: true },
    },
  }
  assert.deepEqual(entriesFromLock(lock, 'package-lock.json'), [
    { installPath: 'node_modules/a', name: 'a', version: '1.0.0', licence: 'MIT' },
    {
      installPath: 'node_modules/a/node_modules/@scope/b',
      name: '@scope/b',
      version: '2.0.0',
      licence: 'ISC',
    },
    { installPath: 'node_modules/old-c', name: 'c', version: '0.19.3' },
  ])
  assert.throws(
    () => entriesFromLock({ lockfileVersion: 1, dependencies: {} }, 'old/package-lock.json'),
    (err: unknown) => err instanceof LicenseError && err.code === 'LEAN_ERR_LICENSE_INPUT',
  )
})

test('both locks, once per name@version; a missing licence is read from the installed package.json, else unknown', async () => {
  const repo = await mkdtemp(path.join(tmpdir(), 'licenses-npm-'))
  await mkdir(path.join(repo, 'tools', 'node_modules', 'quiet'), { recursive: true })
  await writeFile(
    path.join(repo, 'tools', 'node_modules', 'quiet', 'package.json'),
    JSON.stringify({ license: 'BSD-2-Clause' }),
  )
  await writeFile(
    path.join(repo, 'package-lock.json'),
    JSON.stringify({
      lockfileVersion: 3,
      packages: { '': {}, 'node_modules/a': { version: '1.0.0', license: 'MIT' } },
    }),
  )
  await writeFile(
    path.join(repo, 'tools', 'package-lock.json'),
    JSON.stringify({
      lockfileVersion: 3,
      packages: {
        '': {},
        'node_modules/a': { version: '1.0.0', license: 'MIT' },
        'node_modules/quiet': { version: '3.0.0' },
        'node_modules/absent': { version: '0.1.0' },
      },
    }),
  )
  const packages = await readNpmPackages(repo, ['package-lock.json', 'tools/package-lock.json'])
  assert.deepEqual(
    packages.map((p) => [p.name, p.version, p.licence, p.licenceSource, p.usedBy]),
    [
      ['a', '1.0.0', 'MIT', 'package-lock.json', ['package-lock.json', 'tools/package-lock.json']],
      [
        'quiet',
        '3.0.0',
        'BSD-2-Clause',
        'tools/node_modules/quiet/package.json',
        ['tools/package-lock.json'],
      ],
      [
        'absent',
        '0.1.0',
        'unknown',
        'not in tools/package-lock.json; tools/node_modules/absent/package.json not installed (run npm install, then check again)',
        ['tools/package-lock.json'],
      ],
    ],
  )
  await assert.rejects(
    readNpmPackages(repo, ['missing/package-lock.json']),
    (err: unknown) => err instanceof LicenseError && err.code === 'LEAN_ERR_LICENSE_INPUT',
  )
})
