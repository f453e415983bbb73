// Pure licence recognition: licence file text → SPDX ids, and SPDX expressions
// (npm's `license` field) → a tree that can be evaluated.
//
// The text classifier looks for the sentences that make each licence what it
// is (MIT's permission paragraph, BSD's redistribution conditions, a GNU
// licence's title page, the Business Source License's name, …), not for a
// fuzzy match of the whole text. Anything it does not recognise yields no id,
// which the policy treats as an unknown licence.

/** Lower case, words and version numbers only: punctuation, markup and line breaks become single spaces. */
export function normaliseLicenceText(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, ' ')
    .replace(/\.(?!\d)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
}

interface Found {
  id: string
  at: number
}

/** Every start of `pattern` (which must have the g flag) in `text`. */
function starts(text: string, pattern: RegExp): number[] {
  return [...text.matchAll(pattern)].map((m) => m.index)
}

/** The text from `at` up to the first `end` phrase after it, at most `limit` characters. */
function windowFrom(text: string, at: number, end: string, limit: number): string {
  const stop = text.indexOf(end, at + 1)
  return text.slice(at, stop === -1 ? at + limit : Math.min(stop, at + limit))
}

type Rule = (t: string) => Found[]

/** A licence recognised by one phrase; the id may depend on the match. */
function phrase(pattern: RegExp, id: string | ((m: RegExpMatchArray) => string)): Rule {
  return (t) =>
    [...t.matchAll(pattern)].map((m) => ({ id: typeof id === 'string' ? id : id(m), at: m.index }))
}

/**
 * A licence known by its name, which a text also uses in passing (a trademark
 * line): the versioned id when the text names the version anywhere.
 */
function named(name: string, versioned: RegExp, id: string, unversioned: string): Rule {
  return (t) => {
    const at = t.indexOf(name)
    if (at === -1) return []
    return [{ id: versioned.test(t) ? id : unversioned, at }]
  }
}

const rules: Rule[] = [
  // MIT's grant, with the condition that the notice travels with the software; MIT-0 drops that condition.
  (t) =>
    starts(
      t,
      /permission is hereby granted free of charge to any person obtaining a copy of this software/g,
    ).map((at) => {
      const grant = windowFrom(t, at, 'the software is provided', 1500)
      return { id: grant.includes('this permission notice shall be included') ? 'MIT' : 'MIT-0', at }
    }),
  // ISC's grant requires the notice in all copies; 0BSD is the same grant without it.
  (t) =>
    starts(
      t,
      /permission to use copy modify (?:and or |and )?distribute this software for any purpose with or without fee is hereby granted/g,
    ).map((at) => {
      const grant = windowFrom(t, at, 'the software is provided', 600)
      return { id: grant.includes('provided that the above copyright notice') ? 'ISC' : '0BSD', at }
    }),
  // BSD: count the conditions between the grant and the disclaimer.
  (t) =>
    starts(
      t,
      /redistribution and use in source and binary forms(?: of(?: [a-z0-9.]+){1,4})? with or without modification are permitted provided that/g,
    ).map((at) => {
      const conditions = windowFrom(t, at, 'this software is provided', 2500)
      if (conditions.includes('all advertising materials mentioning features or use of this software')) {
        return { id: 'BSD-4-Clause', at }
      }
      if (conditions.includes('endorse or promote products derived from this software')) {
        return { id: 'BSD-3-Clause', at }
      }
      return { id: 'BSD-2-Clause', at }
    }),
  phrase(/apache (?:software )?license (?:version |v )?2\.0/g, 'Apache-2.0'),
  phrase(/apache (?:software )?license (?:version |v )?1\.1/g, 'Apache-1.1'),
  phrase(/mozilla public license (?:version |v )?2\.0/g, 'MPL-2.0'),
  phrase(/mozilla public license (?:version |v )?1\.1/g, 'MPL-1.1'),
  phrase(/this is free and unencumbered software released into the public domain/g, 'Unlicense'),
  phrase(/cc0 1\.0 universal/g, 'CC0-1.0'),
  (t) =>
    t.includes('altered source versions must be plainly marked as such')
      ? phrase(/the origin of this software must not be misrepresented/g, 'Zlib')(t)
      : [],
  phrase(/blue oak model license/g, 'BlueOak-1.0.0'),
  // Unicode's own data and code (ICU4X crates): the grant names data files, so MIT's rule does not match it.
  phrase(/unicode license v3/g, 'Unicode-3.0'),
  phrase(
    /python software foundation license version 2|license agreement is between the python software foundation/g,
    'Python-2.0',
  ),
  phrase(/boost software license (?:version )?1\.0/g, 'BSL-1.0'),
  phrase(/eclipse public license (?:version |v )?([12])\.0/g, (m) => `EPL-${m[1]}.0`),
  phrase(/european union public licen[cs]e (?:version |v )?(1\.[12])/g, (m) => `EUPL-${m[1]}`),
  phrase(/common development and distribution license (?:cddl )?(?:version )?1\.0/g, 'CDDL-1.0'),
  phrase(/the artistic license 2\.0/g, 'Artistic-2.0'),
  phrase(/sil open font license version 1\.1/g, 'OFL-1.1'),
  phrase(/do what the \w+ ?\w* you want to public license/g, 'WTFPL'),
  // GNU licences: by their title page or by the notice that applies them. Other
  // licences name them in passing (MPL-2.0's "Secondary License", LGPL's
  // references to the GPL), so a bare "GNU General Public License" is not enough.
  phrase(/gnu general public license version 2 june 1991/g, 'GPL-2.0'),
  phrase(/gnu general public license version 3 29 june 2007/g, 'GPL-3.0'),
  phrase(/gnu library general public license version 2 june 1991/g, 'LGPL-2.0'),
  phrase(/gnu lesser general public license version 2\.1 february 1999/g, 'LGPL-2.1'),
  phrase(/gnu lesser general public license version 3 29 june 2007/g, 'LGPL-3.0'),
  phrase(/gnu affero general public license version 3 19 november 2007/g, 'AGPL-3.0'),
  phrase(
    /under the terms of the gnu (lesser |library |affero )?general public license (?:as published by the free software foundation )?(?:either )?(?:version )?(2\.1|2|3)\b/g,
    (m) => {
      const family = { 'lesser ': 'LGPL', 'library ': 'LGPL', 'affero ': 'AGPL' }[m[1] ?? ''] ?? 'GPL'
      const version = m[2] === '2.1' ? '2.1' : `${m[2]}.0`
      return `${family}-${version}`
    },
  ),
  // Source-available licences and riders that are not open source.
  named(
    'business source license',
    /business source license (?:version |v )?1\.1/,
    'BUSL-1.1',
    'LicenseRef-BUSL',
  ),
  phrase(/server side public license/g, 'SSPL-1.0'),
  named('elastic license', /elastic license (?:version |v )?2\.0/, 'Elastic-2.0', 'LicenseRef-Elastic'),
  phrase(/commons clause/g, 'Commons-Clause'),
]

/**
 * The SPDX ids of the licences a licence file states, in the order they first
 * appear. An Apache-2.0 text that carries the LLVM exceptions reads
 * `Apache-2.0 WITH LLVM-exception`. Empty when nothing is recognised.
 */
export function classifyLicenceText(text: string): string[] {
  let t = normaliseLicenceText(text)
  if (t.includes('business source license')) {
    // A BUSL text names the open-source licence it turns into after the change
    // date; that licence does not apply today.
    t = t.replace(/change license (?:is )?(?:[a-z]+ ){1,6}(?:version |v )?\d+(?:\.\d+)*/g, 'change license')
  }
  const found = rules.flatMap((rule) => rule(t)).sort((a, b) => a.at - b.at)
  const ids = [...new Set(found.map((f) => f.id))]
  if (t.includes('llvm exceptions to the apache 2.0 license')) {
    return ids.map((id) => (id === 'Apache-2.0' ? 'Apache-2.0 WITH LLVM-exception' : id))
  }
  return ids
}

/** Wordings by which a licence file offers a choice between the licences it contains. */
const choice =
  /one or the other of these|alternatively this (?:product|software|library|program|package|code) may be (?:distributed|used)|dual licensed under|licensed under either of/

/**
 * The licence a file states, as an SPDX expression: its licences joined with
 * AND, or with OR when the file offers exactly two and says that they are
 * alternatives (e.g. "BSD-3-Clause OR GPL-2.0"). Undefined when nothing is recognised.
 */
export function licenceExpressionOfText(text: string): string | undefined {
  const ids = classifyLicenceText(text)
  if (ids.length === 0) return undefined
  if (ids.length === 2 && choice.test(normaliseLicenceText(text))) return ids.join(' OR ')
  return ids.join(' AND ')
}

// ---------------------------------------------------------------------------
// SPDX license expressions: `MIT`, `(MIT OR Apache-2.0)`, `Apache-2.0 WITH LLVM-exception`,
// `EUPL-1.1+`. Operators are accepted in any case, as npm's data has both.

export interface SpdxLicence {
  type: 'licence'
  /** The id as written, without a trailing `+`. */
  id: string
  /** `+`: this version or any later one. */
  orLater: boolean
  exception?: string
}

export interface SpdxCompound {
  type: 'and' | 'or'
  terms: SpdxNode[]
}

export type SpdxNode = SpdxLicence | SpdxCompound

export class SpdxSyntaxError extends Error {
  constructor(expression: string, reason: string) {
    super(`not an SPDX expression: "${expression}" (${reason})`)
    this.name = 'SpdxSyntaxError'
  }
}

const idPattern = /^[A-Za-z0-9][A-Za-z0-9.:-]*\+?$/

export function parseSpdxExpression(expression: string): SpdxNode {
  const tokens = expression.match(/\(|\)|[^\s()]+/g) ?? []
  let pos = 0
  const fail = (reason: string): never => {
    throw new SpdxSyntaxError(expression, reason)
  }
  const peekOperator = (): string | undefined => tokens[pos]?.toUpperCase()

  const atom = (): SpdxNode => {
    const token = tokens[pos++]
    if (token === undefined) return fail('ends too early')
    if (token === '(') {
      const inner = orExpression()
      if (tokens[pos++] !== ')') fail('missing ")"')
      return inner
    }
    if (token === ')' || ['AND', 'OR', 'WITH'].includes(token.toUpperCase()) || !idPattern.test(token)) {
      return fail(`unexpected "${token}"`)
    }
    const leaf: SpdxLicence = { type: 'licence', id: token.replace(/\+$/, ''), orLater: token.endsWith('+') }
    if (peekOperator() === 'WITH') {
      pos++
      const exception = tokens[pos++]
      if (exception === undefined || !idPattern.test(exception)) return fail('WITH needs an exception id')
      leaf.exception = exception
    }
    return leaf
  }
  const compound = (type: 'and' | 'or', operand: () => SpdxNode): SpdxNode => {
    const terms = [operand()]
    while (peekOperator() === type.toUpperCase()) {
      pos++
      terms.push(operand())
    }
    return terms.length === 1 ? terms[0]! : { type, terms }
  }
  const andExpression = (): SpdxNode => compound('and', atom)
  const orExpression = (): SpdxNode => compound('or', andExpression)

  if (tokens.length === 0) fail('empty')
  const node = orExpression()
  if (pos < tokens.length) fail(`unexpected "${tokens[pos]}"`)
  return node
}

/** The expression as text, with parentheses around each nested compound. */
export function formatSpdx(node: SpdxNode, parent?: 'and' | 'or'): string {
  if (node.type === 'licence') {
    return `${node.id}${node.orLater ? '+' : ''}${node.exception ? ` WITH ${node.exception}` : ''}`
  }
  const text = node.terms.map((t) => formatSpdx(t, node.type)).join(node.type === 'and' ? ' AND ' : ' OR ')
  return parent !== undefined && parent !== node.type ? `(${text})` : text
}

/** All licences named in the expression, in order. */
export function spdxLicences(node: SpdxNode): SpdxLicence[] {
  return node.type === 'licence' ? [node] : node.terms.flatMap(spdxLicences)
}

/**
 * Scores an expression from the scores of its licences: an OR takes its best
 * branch, an AND its worst term. With 0 for "refused" and higher numbers for
 * acceptable licences, an OR passes when any branch does and an AND only when
 * every term does.
 */
export function evaluateSpdx(node: SpdxNode, score: (licence: SpdxLicence) => number): number {
  if (node.type === 'licence') return score(node)
  const scores = node.terms.map((t) => evaluateSpdx(t, score))
  return node.type === 'or' ? Math.max(...scores) : Math.min(...scores)
}
