import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  classifyLicenceText,
  licenceExpressionOfText,
  evaluateSpdx,
  formatSpdx,
  normaliseLicenceText,
  parseSpdxExpression,
  spdxLicences,
  SpdxSyntaxError,
} from '../../../infra/licenses/classify.ts'

// Short licence texts written for these tests: the sentences that identify
// each licence, with the line breaks and punctuation real files have.
const mit = `MIT License

Copyright (c) 2021 Example Author

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
`
const mit0 = `MIT No Attribution

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
`
const bsdGrant = `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice.
2. Redistributions in binary form must reproduce the above copyright notice.
`
const bsd3 = `Copyright (c) 2009 The Example Authors. All rights reserved.

${bsdGrant}3. Neither the name of the copyright holder nor the names of its contributors
   may be used to endorse or promote products derived from this software
   without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".
`
const bsd2 = `Copyright (c) 2015, Example\n\n${bsdGrant}\nTHIS SOFTWARE IS PROVIDED BY THE AUTHOR "AS IS".\n`

const businessSourceLicence = `License text copyright (c) 2017 MariaDB Corporation Ab, All Rights Reserved.
"Business Source License" is a trademark of MariaDB Corporation Ab.

Parameters

Licensor:             HashiCorp, Inc.
Licensed Work:        Nomad Version 1.7.0 or later. The Licensed Work is (c) 2024
                      HashiCorp, Inc.
Additional Use Grant: You may make production use of the Licensed Work, provided
                      Your use does not include offering the Licensed Work to third
                      parties on a hosted or embedded basis in order to compete with
                      HashiCorp's paid version(s) of the Licensed Work.
Change Date:          Four years from the date the Licensed Work is published.
Change License:       MPL 2.0

Business Source License 1.1

Terms

The Licensor hereby grants you the right to copy, modify, create derivative
works, redistribute, and make non-production use of the Licensed Work.
`

test('MIT and MIT-0: the permission paragraph, with or without the notice condition', () => {
  assert.deepEqual(classifyLicenceText(mit), ['MIT'])
  assert.deepEqual(classifyLicenceText(mit0), ['MIT-0'])
})

test('ISC and 0BSD: the same grant, with and without the notice condition', () => {
  const grant =
    'Permission to use, copy, modify, and/or distribute this software for any\npurpose with or without fee is hereby granted'
  assert.deepEqual(
    classifyLicenceText(
      `ISC License\n\n${grant}, provided that the above\ncopyright notice and this permission notice appear in all copies.\n\nTHE SOFTWARE IS PROVIDED "AS IS"`,
    ),
    ['ISC'],
  )
  assert.deepEqual(
    classifyLicenceText(`${grant}.\n\nTHE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS`),
    ['0BSD'],
  )
})

test('BSD: the conditions between the grant and the disclaimer decide 2, 3 or 4 clauses', () => {
  assert.deepEqual(classifyLicenceText(bsd2), ['BSD-2-Clause'])
  assert.deepEqual(classifyLicenceText(bsd3), ['BSD-3-Clause'])
  const bsd4 = bsd3.replace(
    '3. Neither',
    '3. All advertising materials mentioning features or use of this software must display an acknowledgement.\n4. Neither',
  )
  assert.deepEqual(classifyLicenceText(bsd4), ['BSD-4-Clause'])
})

test('Apache-2.0 by its heading or its notice; the LLVM exceptions are kept with it', () => {
  assert.deepEqual(
    classifyLicenceText('                Apache License\n          Version 2.0, January 2004\n'),
    ['Apache-2.0'],
  )
  assert.deepEqual(
    classifyLicenceText(
      'Licensed under the Apache License, Version 2.0 (the "License");\nyou may not use this file',
    ),
    ['Apache-2.0'],
  )
  const llvm =
    'Apache License\nVersion 2.0, January 2004\n...\n--- LLVM Exceptions to the Apache 2.0 License ----\nAs an exception, ...'
  assert.deepEqual(classifyLicenceText(llvm), ['Apache-2.0 WITH LLVM-exception'])
})

test('MPL-2.0: heading and file notice; its list of Secondary Licenses names no GNU licence that applies', () => {
  const mpl = `Mozilla Public License Version 2.0
==================================

1.12. "Secondary License"
    means either the GNU General Public License, Version 2.0, the GNU Lesser
    General Public License, Version 2.1, the GNU Affero General Public
    License, Version 3.0, or any later versions of those licenses.
`
  assert.deepEqual(classifyLicenceText(mpl), ['MPL-2.0'])
  assert.deepEqual(
    classifyLicenceText(
      'This Source Code Form is subject to the terms of the Mozilla Public\nLicense, v. 2.0. If a copy of the MPL was not distributed with this\nfile, You can obtain one at https://mozilla.org/MPL/2.0/.',
    ),
    ['MPL-2.0'],
  )
})

test('public-domain style and other permissive licences', () => {
  assert.deepEqual(
    classifyLicenceText(
      'This is free and unencumbered software released into the public domain.\n\nAnyone is free to copy',
    ),
    ['Unlicense'],
  )
  assert.deepEqual(
    classifyLicenceText(
      'Creative Commons Legal Code\n\nCC0 1.0 Universal\n\n    CREATIVE COMMONS CORPORATION',
    ),
    ['CC0-1.0'],
  )
  assert.deepEqual(
    classifyLicenceText(
      `This software is provided 'as-is', without any express or implied warranty.
1. The origin of this software must not be misrepresented; you must not claim that you wrote the original software.
2. Altered source versions must be plainly marked as such, and must not be misrepresented as being the original software.`,
    ),
    ['Zlib'],
  )
  assert.deepEqual(classifyLicenceText('# Blue Oak Model License\n\nVersion 1.0.0\n\n## Purpose'), [
    'BlueOak-1.0.0',
  ])
  assert.deepEqual(
    classifyLicenceText(
      'PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2\n--------------------------------------------\n\n1. This LICENSE AGREEMENT is between the Python Software Foundation ("PSF")',
    ),
    ['Python-2.0'],
  )
})

test('GNU licences by title page or by the notice that applies them', () => {
  assert.deepEqual(classifyLicenceText('GNU GENERAL PUBLIC LICENSE\n   Version 2, June 1991\n'), ['GPL-2.0'])
  assert.deepEqual(classifyLicenceText('GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n'), ['GPL-3.0'])
  assert.deepEqual(classifyLicenceText('GNU LESSER GENERAL PUBLIC LICENSE\n  Version 2.1, February 1999\n'), [
    'LGPL-2.1',
  ])
  assert.deepEqual(
    classifyLicenceText(
      'This library is free software: you can redistribute it and/or modify it under the terms of the GNU Lesser General\nPublic License as published by the Free Software Foundation, either version 3 of the License',
    ),
    ['LGPL-3.0'],
  )
  const agpl =
    'GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007\n\n13. ... licensed under version 3 of the GNU General Public License'
  assert.deepEqual(classifyLicenceText(agpl), ['AGPL-3.0'])
})

test('source-available licences and the Commons Clause are recognised, not mistaken for what they change into', () => {
  assert.deepEqual(
    classifyLicenceText(businessSourceLicence),
    ['BUSL-1.1'],
    'the Change License does not apply yet',
  )
  const spelledOut = businessSourceLicence.replace('MPL 2.0', 'Mozilla Public License, Version 2.0')
  assert.deepEqual(classifyLicenceText(spelledOut), ['BUSL-1.1'])
  assert.deepEqual(classifyLicenceText('Server Side Public License\nVERSION 1, OCTOBER 16, 2018'), [
    'SSPL-1.0',
  ])
  assert.deepEqual(
    classifyLicenceText('Elastic License 2.0\n\nURL: https://www.elastic.co/licensing/elastic-license'),
    ['Elastic-2.0'],
  )
  const rider = `"Commons Clause" License Condition v1.0

The Software is provided to you by the Licensor under the License, as defined
below, subject to the following condition.

License: Apache License, Version 2.0
`
  assert.deepEqual(classifyLicenceText(rider), ['Commons-Clause', 'Apache-2.0'])
})

test('a file with several licences reports each, in the order they appear', () => {
  assert.deepEqual(classifyLicenceText(`${mit}\n\nPortions are from Go:\n\n${bsd3}`), ['MIT', 'BSD-3-Clause'])
  assert.deepEqual(classifyLicenceText(`${bsd3}\n---\n${bsd2}`), ['BSD-3-Clause', 'BSD-2-Clause'])
})

test('a file that offers a choice of two licences states an OR; otherwise its licences all apply (AND)', () => {
  const dual = `The licensed conditions are one or the other of these two Licenses:

  - BSD 3-clause
  - GPL v2.0

Redistribution and use in source and binary forms of libexample, with
or without modification, are permitted provided that the following
conditions are met:
3. The name of any author may not be used to endorse or promote
   products derived from this software without their specific prior
   written permission.

THIS SOFTWARE IS PROVIDED "AS IS".

ALTERNATIVELY, this product may be distributed under the terms of the
GNU General Public License (v2.0 - see below).

                    GNU GENERAL PUBLIC LICENSE
                       Version 2, June 1991
`
  assert.deepEqual(classifyLicenceText(dual), ['BSD-3-Clause', 'GPL-2.0'])
  assert.equal(licenceExpressionOfText(dual), 'BSD-3-Clause OR GPL-2.0')
  const both = `${mit}\nThe file gpl_part.c is distributed under the terms of the GNU General Public License as published by the Free Software Foundation, either version 3 of the License, or (at your option) any later version.`
  assert.equal(
    licenceExpressionOfText(both),
    'MIT AND GPL-3.0',
    '"at your option" about later versions is no choice',
  )
  assert.equal(licenceExpressionOfText(mit), 'MIT')
  assert.equal(licenceExpressionOfText('no licence here'), undefined)
})

test('nothing recognised, nothing reported', () => {
  assert.deepEqual(classifyLicenceText('All rights reserved. Ask us before using this.'), [])
  assert.deepEqual(classifyLicenceText(''), [])
})

test('normalising keeps words and version numbers, drops punctuation and sentence periods', () => {
  assert.equal(normaliseLicenceText('Mozilla Public\n  License, v. 2.0.'), 'mozilla public license v 2.0')
  assert.equal(normaliseLicenceText('modify, and/or distribute'), 'modify and or distribute')
})

test('SPDX expressions parse with AND binding tighter than OR, WITH tightest, and + kept', () => {
  assert.equal(formatSpdx(parseSpdxExpression('MIT')), 'MIT')
  assert.deepEqual(parseSpdxExpression('(MIT OR Apache-2.0)'), {
    type: 'or',
    terms: [
      { type: 'licence', id: 'MIT', orLater: false },
      { type: 'licence', id: 'Apache-2.0', orLater: false },
    ],
  })
  assert.equal(
    formatSpdx(parseSpdxExpression('MIT OR Apache-2.0 AND BSD-3-Clause')),
    'MIT OR (Apache-2.0 AND BSD-3-Clause)',
  )
  assert.equal(
    formatSpdx(parseSpdxExpression('(MIT OR Apache-2.0) AND BSD-3-Clause')),
    '(MIT OR Apache-2.0) AND BSD-3-Clause',
  )
  assert.deepEqual(parseSpdxExpression('(Apache-2.0 WITH LLVM-exception)'), {
    type: 'licence',
    id: 'Apache-2.0',
    orLater: false,
    exception: 'LLVM-exception',
  })
  assert.deepEqual(parseSpdxExpression('EUPL-1.1+'), { type: 'licence', id: 'EUPL-1.1', orLater: true })
  assert.equal(formatSpdx(parseSpdxExpression('mit or (isc and zlib)')), 'mit OR (isc AND zlib)')
  assert.deepEqual(
    spdxLicences(parseSpdxExpression('(MIT AND Zlib) OR LicenseRef-Custom')).map((l) => l.id),
    ['MIT', 'Zlib', 'LicenseRef-Custom'],
  )
})

test('text that is not an SPDX expression is a syntax error', () => {
  for (const bad of [
    '',
    'SEE LICENSE IN LICENSE.md',
    '(MIT',
    'MIT)',
    'MIT AND',
    'OR MIT',
    'MIT WITH',
    'MIT/X11',
  ]) {
    assert.throws(() => parseSpdxExpression(bad), SpdxSyntaxError, bad)
  }
})

test('evaluating: OR takes its best branch, AND its worst term', () => {
  const score = (l: { id: string }): number => ({ MIT: 2, 'GPL-2.0': 1 })[l.id] ?? 0
  const value = (e: string): number => evaluateSpdx(parseSpdxExpression(e), score)
  assert.equal(value('MIT OR BUSL-1.1'), 2)
  assert.equal(value('MIT AND BUSL-1.1'), 0)
  assert.equal(value('MIT AND GPL-2.0'), 1)
  assert.equal(value('(MIT AND BUSL-1.1) OR GPL-2.0'), 1)
})

test('Unicode License v3 (the ICU4X crates): by its title, not as MIT', () => {
  const unicode = `UNICODE LICENSE V3

COPYRIGHT AND PERMISSION NOTICE

Permission is hereby granted, free of charge, to any person obtaining a
copy of data files and any associated documentation (the "Data Files") or
software and any associated documentation (the "Software") to deal in the
Data Files or Software without restriction, provided that either (a)
this copyright and permission notice appear with all copies of the Data
Files or Software, or (b) this copyright and permission notice appear in
associated Documentation.
`
  assert.deepEqual(classifyLicenceText(unicode), ['Unicode-3.0'])
})
