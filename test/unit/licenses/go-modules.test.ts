import assert from 'node:assert/strict'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import {
  escapeModulePath,
  isLicenceFileName,
  licenceOfTree,
  parseBuildInfo,
} from '../../../infra/licenses/go-modules.ts'

// The shape of `go version -m` output: tab-indented, one module per line, a
// `=>` line under a module that a replace directive swapped.
const buildInfo = [
  '/root/.cache/lean-cloud/bin/nomad-v1.6.3: go1.26.8',
  '\tpath\tgithub.com/hashicorp/nomad',
  '\tmod\tleancloud.local/binaries/nomad\t(devel)\t',
  '\tdep\tgithub.com/Microsoft/go-winio\tv0.6.1\th1:abc=',
  '\t=>\tgithub.com/endocrimes/go-winio\tv0.4.13-0.20190628114223-fb47a8b41948\th1:def=',
  '\tdep\tgithub.com/hashicorp/nomad\tv1.6.3\th1:ghi=',
  '\tdep\tgithub.com/hashicorp/nomad/api\tv0.0.0-20240213164230-c364cb57298d\th1:jkl=',
  '\tdep\texample.com/local\tv1.0.0',
  '\t=>\t../local\t',
  '\tbuild\t-buildmode=exe',
  '\tbuild\tCGO_ENABLED=1',
  '',
].join('\n')

test('go version -m: main package, main module, dependencies as compiled in after replace', () => {
  const info = parseBuildInfo(buildInfo)
  assert.equal(info.goVersion, 'go1.26.8')
  assert.equal(info.mainPackage, 'github.com/hashicorp/nomad')
  assert.deepEqual(info.main, { path: 'leancloud.local/binaries/nomad', version: '(devel)' })
  assert.deepEqual(info.deps, [
    {
      path: 'github.com/endocrimes/go-winio',
      version: 'v0.4.13-0.20190628114223-fb47a8b41948',
      replaces: { path: 'github.com/Microsoft/go-winio', version: 'v0.6.1' },
    },
    { path: 'github.com/hashicorp/nomad', version: 'v1.6.3' },
    { path: 'github.com/hashicorp/nomad/api', version: 'v0.0.0-20240213164230-c364cb57298d' },
    { path: '../local', version: '', replaces: { path: 'example.com/local', version: 'v1.0.0' } },
  ])
})

test('module cache paths escape upper-case letters', () => {
  assert.equal(escapeModulePath('github.com/Azure/go-ansiterm'), 'github.com/!azure/go-ansiterm')
  assert.equal(escapeModulePath('github.com/BurntSushi/toml'), 'github.com/!burnt!sushi/toml')
  assert.equal(escapeModulePath('v1.0.0-RC1'), 'v1.0.0-!r!c1')
})

test('licence file names', () => {
  for (const name of [
    'LICENSE',
    'license.md',
    'LICENSE.txt',
    'LICENCE',
    'COPYING',
    'COPYING.LESSER',
    'LICENSE-MIT',
    'LICENSE.libyaml',
    'UNLICENSE',
  ]) {
    assert.ok(isLicenceFileName(name), name)
  }
  for (const name of ['license.go', 'licenses.json', 'README.md', 'NOTICE', 'mylicense']) {
    assert.ok(!isLicenceFileName(name), name)
  }
})

test('a module tree: every licence file at its root read and classified; none is unknown', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'licenses-go-'))
  const yaml = path.join(root, 'yaml')
  await mkdir(yaml)
  await writeFile(
    path.join(yaml, 'LICENSE'),
    'Licensed under the Apache License, Version 2.0 (the "License");\n',
  )
  await writeFile(
    path.join(yaml, 'LICENSE.libyaml'),
    'Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files, subject to: The above copyright notice and this permission notice shall be included in all copies.\n',
  )
  await writeFile(
    path.join(yaml, 'license.go'),
    'package yaml // MPL-2.0 mentioned here is not a licence file',
  )
  assert.deepEqual(await licenceOfTree(yaml), {
    licence: 'Apache-2.0 AND MIT',
    source: 'LICENSE, LICENSE.libyaml',
  })

  const dual = path.join(root, 'dual')
  await mkdir(dual)
  await writeFile(
    path.join(dual, 'LICENSE'),
    'Dual licensed under the Apache License, Version 2.0 and the MIT license.\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software, subject to: The above copyright notice and this permission notice shall be included in all copies.\n',
  )
  await writeFile(
    path.join(dual, 'COPYING.zlib'),
    'The origin of this software must not be misrepresented. Altered source versions must be plainly marked as such.\n',
  )
  assert.deepEqual(await licenceOfTree(dual), {
    licence: 'Zlib AND (Apache-2.0 OR MIT)',
    source: 'COPYING.zlib, LICENSE',
  })

  const bare = path.join(root, 'bare')
  await mkdir(bare)
  await writeFile(path.join(bare, 'go.mod'), 'module example.com/bare\n')
  assert.deepEqual(await licenceOfTree(bare), {
    licence: 'unknown',
    source: 'no licence file at the module root',
  })

  const odd = path.join(root, 'odd')
  await mkdir(odd)
  await writeFile(path.join(odd, 'LICENSE'), 'Use it as you like, but ask first.\n')
  assert.deepEqual(await licenceOfTree(odd), { licence: 'unknown', source: 'LICENSE (not recognised)' })
})
