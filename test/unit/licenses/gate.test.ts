// The gate end to end without I/O: licence text → classifier → policy → the
// CLI's decision and output. Above all: it fails on a source-available module.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classifyLicenceText } from '../../../infra/licenses/classify.ts'
import { decide, formatReport, formatTable, parseArgs, summaryLines } from '../../../infra/licenses/cli.ts'
import type { Report } from '../../../infra/licenses/cli.ts'
import { LicenseError } from '../../../infra/licenses/errors.ts'
import { applyPolicy } from '../../../infra/licenses/policy.ts'
import type { AllowEntry, Component } from '../../../infra/licenses/policy.ts'

const nomadBusl = `Copyright (c) 2024 HashiCorp, Inc.

License text copyright (c) 2020 MariaDB Corporation Ab, All Rights Reserved.
"Business Source License" is a trademark of MariaDB Corporation Ab.

Parameters

Licensor:             HashiCorp, Inc.
Licensed Work:        Nomad Version 1.7.0 or later.
Change Date:          Four years from the date the Licensed Work is published.
Change License:       MPL 2.0

-----------------------------------------------------------------------------

Business Source License 1.1

The Licensor hereby grants you the right to copy, modify, create derivative
works, redistribute, and make non-production use of the Licensed Work.
`
const mplNotice = 'Mozilla Public License, version 2.0\n\n1. Definitions\n'

function goModule(name: string, version: string, licenceText: string): Component {
  return {
    ecosystem: 'go',
    name,
    version,
    licence: classifyLicenceText(licenceText).join(' AND ') || 'unknown',
    licenceSource: 'LICENSE',
    usedBy: ['nomad'],
  }
}

function report(components: Component[], allowList: AllowEntry[] = [], over: Partial<Report> = {}): Report {
  const { judgements, unusedAllowEntries } = applyPolicy(components, allowList)
  return {
    judgements,
    unusedAllowEntries,
    lockFiles: [],
    binaries: [
      {
        name: 'nomad',
        path: '/cache/nomad',
        goVersion: 'go1.22.1',
        mainPackage: 'github.com/hashicorp/nomad',
        modules: 2,
      },
    ],
    notBuilt: [],
    notes: [],
    ...over,
  }
}

test('the gate FAILS on github.com/hashicorp/nomad v1.7.0 under the Business Source License', () => {
  const modules = [
    goModule('github.com/hashicorp/nomad', 'v1.7.0', nomadBusl),
    goModule('github.com/hashicorp/go-multierror', 'v1.1.1', mplNotice),
  ]
  assert.equal(modules[0]!.licence, 'BUSL-1.1')
  const r = report(modules)
  const nomad = r.judgements.find((j) => j.name === 'github.com/hashicorp/nomad')!
  assert.equal(nomad.verdict, 'refused')
  assert.match(nomad.note, /Business Source License/)
  assert.equal(r.judgements.find((j) => j.name === 'github.com/hashicorp/go-multierror')!.verdict, 'pass')

  const decision = decide(r, { requireBinaries: false })
  assert.notEqual(decision.exitCode, 0)
  assert.equal(decision.code, 'LEAN_ERR_LICENSE_REFUSED')
  assert.deepEqual(
    decision.refused.map((j) => `${j.name}@${j.version}`),
    ['github.com/hashicorp/nomad@v1.7.0'],
  )
  const failures = decision.failures.join('\n')
  assert.match(failures, /go github\.com\/hashicorp\/nomad v1\.7\.0: BUSL-1\.1 \(Business Source License/)
  assert.match(failures, /Replace each .* add an entry\s+to infra\/licenses\/allow-list\.json .* reason/s)
  assert.match(formatTable(r.judgements), /github\.com\/hashicorp\/nomad\s+v1\.7\.0\s+BUSL-1\.1\s+REFUSED/)
  assert.deepEqual(summaryLines(r), [
    'go: 2 modules in 1 binary (nomad), 1 refused (0 allow-listed, 0 copyleft)',
  ])
})

test('an allow-listed package passes, and the output shows the entry and its reason', () => {
  const components: Component[] = [
    {
      ecosystem: 'npm',
      name: 'quiet-package',
      version: '2.1.0',
      licence: 'unknown',
      licenceSource: 'neither package-lock.json nor node_modules/quiet-package/package.json declares one',
      usedBy: ['package-lock.json'],
    },
  ]
  const allow: AllowEntry[] = [
    {
      ecosystem: 'npm',
      name: 'quiet-package',
      version: '2.1.0',
      licence: 'MIT',
      reason: 'no license field; its installed LICENSE file is the MIT text',
    },
  ]
  const r = report(components, allow, { lockFiles: ['package-lock.json'], binaries: [] })
  const decision = decide(r, { requireBinaries: false })
  assert.equal(decision.exitCode, 0)
  assert.deepEqual(decision.failures, [])
  const out = formatReport(r, decision)
  assert.match(out, /quiet-package\s+2\.1\.0\s+unknown\s+allowed \(allow-list\)/)
  assert.match(
    out,
    /npm quiet-package 2\.1\.0: MIT: no license field; its installed LICENSE file is the MIT text/,
  )
  assert.match(out, /npm: 1 package in package-lock\.json, 0 refused \(1 allow-listed, 0 copyleft\)/)
})

test('a binary that is not built is a warning, or with --require-binaries a failure', () => {
  const r = report([goModule('golang.org/x/sys', 'v0.20.0', mplNotice)], [], { notBuilt: ['seaweedfs'] })
  const lenient = decide(r, { requireBinaries: false })
  assert.equal(lenient.exitCode, 0)
  assert.match(
    lenient.warnings.join('\n'),
    /seaweedfs is not built yet, so the Go modules in it were not checked/,
  )
  assert.match(formatReport(r, lenient), /^not built: seaweedfs$/m)
  const strict = decide(r, { requireBinaries: true })
  assert.equal(strict.exitCode, 1)
  assert.equal(strict.code, 'LEAN_ERR_LICENSE_UNCHECKED')
})

test('copyleft modules pass and are listed; an unused allow-list entry is a warning', () => {
  const lgpl = { ...goModule('github.com/example/sddl', 'v1.0.0', mplNotice), licence: 'LGPL-3.0' }
  const stale: AllowEntry = {
    ecosystem: 'go',
    name: 'gone.example/m',
    version: '*',
    licence: 'MIT',
    reason: 'old',
  }
  const r = report([lgpl], [stale])
  const decision = decide(r, { requireBinaries: false })
  assert.equal(decision.exitCode, 0)
  assert.match(formatTable(r.judgements), /LGPL-3\.0\s+pass \(copyleft\)/)
  assert.match(
    formatReport(r, decision),
    /Copyleft .*\n {2}go github\.com\/example\/sddl v1\.0\.0: LGPL-3\.0/,
  )
  assert.match(
    decision.warnings.join('\n'),
    /allow-list entry go gone\.example\/m \* matches no refused package/,
  )
})

test('a long list of licences is cut in the table, kept whole in the judgement', () => {
  const many = [
    'Apache-2.0',
    'BSD-3-Clause',
    'MIT',
    'ISC',
    'BSD-2-Clause',
    'Zlib',
    'MPL-2.0',
    'MIT-0',
    '0BSD',
  ]
  const r = report([
    { ...goModule('github.com/example/appliance', 'v1.0.0', mplNotice), licence: many.join(' AND ') },
  ])
  assert.match(
    formatTable(r.judgements),
    /Apache-2\.0 AND BSD-3-Clause AND MIT AND ISC AND … \(\+5 more\)\s+pass/,
  )
  assert.equal(r.judgements[0]!.licence, many.join(' AND '))
})

test('command line: --json, --only, --require-binaries; anything else is a usage error', () => {
  assert.deepEqual(parseArgs([]), { json: false, requireBinaries: false, help: false })
  assert.deepEqual(parseArgs(['--json', '--only', 'go', '--require-binaries']), {
    json: true,
    requireBinaries: true,
    help: false,
    only: 'go',
  })
  for (const bad of [['--only', 'pypi'], ['--verbose'], ['npm']]) {
    assert.throws(
      () => parseArgs(bad),
      (err: unknown) =>
        err instanceof LicenseError && err.code === 'LEAN_ERR_LICENSE_USAGE' && err.exitCode === 2,
      bad.join(' '),
    )
  }
})
