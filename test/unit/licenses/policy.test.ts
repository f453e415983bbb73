import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LicenseError } from '../../../infra/licenses/errors.ts'
import { applyPolicy, judgeLicence, parseAllowList } from '../../../infra/licenses/policy.ts'
import type { AllowEntry, Component } from '../../../infra/licenses/policy.ts'

const verdict = (expression: string): string => judgeLicence(expression).verdict

test('OSI-approved licences pass, whatever SPDX spelling npm uses', () => {
  for (const e of [
    'MIT',
    'ISC',
    'BSD-2-Clause',
    'BSD-3-Clause',
    'Apache-2.0',
    'MPL-2.0',
    '0BSD',
    'Unlicense',
    'Zlib',
    'BlueOak-1.0.0',
    'Python-2.0',
    'MIT-0',
    'Unicode-3.0',
    '(MIT AND Zlib)',
    '(MIT OR Apache-2.0) AND Unicode-3.0',
    '(Apache-2.0 WITH LLVM-exception)',
    '(MIT OR EUPL-1.1+)',
    'mit',
  ]) {
    assert.equal(verdict(e), 'pass', e)
  }
})

test('GPL and LGPL pass, marked as copyleft; an OR with a permissive branch passes unmarked', () => {
  assert.deepEqual(judgeLicence('GPL-3.0-or-later'), {
    verdict: 'copyleft',
    note: 'GPL-3.0: OSI-approved copyleft',
  })
  assert.equal(verdict('LGPL-2.1-only'), 'copyleft')
  assert.equal(verdict('LGPL-3.0 AND MIT'), 'copyleft')
  assert.equal(verdict('LGPL-2.1 OR MIT'), 'pass')
})

test('source-available licences, riders, AGPL and unknown licences are refused, each with its reason', () => {
  const refusals: Record<string, RegExp> = {
    'BUSL-1.1': /Business Source License/,
    'SSPL-1.0': /Server Side Public License/,
    'Elastic-2.0': /Elastic License/,
    'Apache-2.0 AND Commons-Clause': /Commons Clause/,
    'AGPL-3.0-only': /refused for the servers we ship/,
    unknown: /no licence found/,
    UNLICENSED: /not licensed for use by others/,
    'CC0-1.0': /not approved/,
    'SEE LICENSE IN LICENSE.md': /not an SPDX expression/,
    'LicenseRef-Proprietary': /not an OSI-approved licence this gate knows/,
    'GPL-2.0 WITH Made-Up-exception': /exception Made-Up-exception/,
    '': /no licence found/,
  }
  for (const [expression, reason] of Object.entries(refusals)) {
    const j = judgeLicence(expression)
    assert.equal(j.verdict, 'refused', expression)
    assert.match(j.note, reason, expression)
  }
  assert.equal(verdict('BUSL-1.1 OR MIT'), 'pass', 'an OR passes when any branch does')
  assert.equal(verdict('MIT AND (BUSL-1.1 OR SSPL-1.0)'), 'refused', 'an AND needs every term')
})

const component = (over: Partial<Component>): Component => ({
  ecosystem: 'npm',
  name: 'left-pad',
  version: '1.3.0',
  licence: 'MIT',
  licenceSource: 'package-lock.json',
  usedBy: ['package-lock.json'],
  ...over,
})

test('an allow-list entry turns a refusal into "allowed" with its reason; unused entries are reported', () => {
  const entries: AllowEntry[] = [
    {
      ecosystem: 'npm',
      name: 'no-licence-field',
      version: '*',
      licence: 'MIT',
      reason: 'LICENSE file is MIT',
    },
    { ecosystem: 'go', name: 'no-licence-field', version: '*', licence: 'MIT', reason: 'wrong ecosystem' },
    { ecosystem: 'npm', name: 'left-pad', version: '1.3.0', licence: 'MIT', reason: 'passes anyway' },
    { ecosystem: 'npm', name: 'pinned', version: '2.0.0', licence: 'MIT', reason: 'only 2.0.0 was reviewed' },
  ]
  const { judgements, unusedAllowEntries } = applyPolicy(
    [
      component({}),
      component({ name: 'no-licence-field', version: '0.1.0', licence: 'unknown' }),
      component({ name: 'pinned', version: '2.0.1', licence: 'unknown' }),
    ],
    entries,
  )
  assert.deepEqual(
    judgements.map((j) => [j.name, j.verdict, j.note, j.allowedAs]),
    [
      ['left-pad', 'pass', '', undefined],
      ['no-licence-field', 'allowed', 'LICENSE file is MIT', 'MIT'],
      ['pinned', 'refused', 'no licence found', undefined],
    ],
  )
  assert.deepEqual(unusedAllowEntries, entries.slice(1))
})

test('the allow-list file is validated: every field present, a reason given, nothing else', () => {
  const good = {
    ecosystem: 'go',
    name: 'example.com/m',
    version: 'v1.0.0',
    licence: 'MIT',
    reason: 'checked',
  }
  assert.deepEqual(parseAllowList([good], 'allow-list.json'), [good])
  assert.deepEqual(parseAllowList([], 'allow-list.json'), [])
  for (const bad of [
    {},
    [null],
    [{ ...good, reason: '' }],
    [{ ...good, ecosystem: 'pypi' }],
    [{ ...good, reson: 'typo' }],
    [{ ...good, version: 1 }],
  ]) {
    assert.throws(
      () => parseAllowList(bad, 'allow-list.json'),
      (err: unknown) => err instanceof LicenseError && err.code === 'LEAN_ERR_LICENSE_INPUT',
      JSON.stringify(bad),
    )
  }
})
