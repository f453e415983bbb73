// The gate's policy, pure: which licences pass, which are refused and why, and
// the reviewed allow-list that overrides a refusal for one package.
import { evaluateSpdx, parseSpdxExpression, spdxLicences, SpdxSyntaxError } from './classify.ts'
import type { SpdxLicence, SpdxNode } from './classify.ts'
import { LicenseError } from './errors.ts'

export type Ecosystem = 'npm' | 'go' | 'crates'

export const ECOSYSTEMS: readonly Ecosystem[] = ['npm', 'go', 'crates']

/** One thing the product builds, installs or links: an npm package, a Go module or a Rust crate. */
export interface Component {
  ecosystem: Ecosystem
  name: string
  version: string
  /** An SPDX expression, `unknown`, or (npm, crates) whatever non-SPDX text the package declares. */
  licence: string
  /** Where the licence was read, e.g. `package-lock.json`, `LICENSE`, `Cargo.toml license`. */
  licenceSource: string
  /** The lock files (npm, Cargo) or binaries (Go) it is part of. */
  usedBy: string[]
  /** Anything else a reviewer should know, e.g. which module a Go `replace` stands in for, a crate's legacy licence spelling. */
  detail?: string
}

/**
 * - `pass`: OSI-approved.
 * - `copyleft`: OSI-approved GPL or LGPL; passes, marked for a human's attention.
 * - `allowed`: refused by the rules, accepted by a reviewed allow-list entry.
 * - `refused`: fails the gate.
 */
export type Verdict = 'pass' | 'copyleft' | 'allowed' | 'refused'

export interface Judgement extends Component {
  verdict: Verdict
  /** Why: the refusal's reason, the allow-list entry's reason, or empty. */
  note: string
  /** The allow-list's statement of what the licence really is, when an entry applied. */
  allowedAs?: string
}

export interface AllowEntry {
  ecosystem: Ecosystem
  name: string
  /** An exact version, or `*` for every version. */
  version: string
  /** What the licence really is. */
  licence: string
  /** Why the package is acceptable. */
  reason: string
}

/** OSI-approved licences (https://opensource.org/licenses) that pass unmarked. */
const approved = new Set([
  '0BSD',
  'Apache-1.1',
  'Apache-2.0',
  'Artistic-2.0',
  'BlueOak-1.0.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'BSL-1.0',
  'CDDL-1.0',
  'EPL-1.0',
  'EPL-2.0',
  'EUPL-1.1',
  'EUPL-1.2',
  'ISC',
  'MIT',
  'MIT-0',
  'MPL-1.1',
  'MPL-2.0',
  'OFL-1.1',
  'PostgreSQL',
  'Python-2.0',
  'Unicode-3.0',
  'Unicode-DFS-2016',
  'Unlicense',
  'UPL-1.0',
  'Zlib',
])

/** OSI-approved copyleft licences: they pass, and the table marks them. */
const copyleft = new Set(['GPL-2.0', 'GPL-3.0', 'LGPL-2.0', 'LGPL-2.1', 'LGPL-3.0'])

/** Licences the gate knows and refuses, with the reason it prints. */
const refused = new Map<string, string>([
  ['AGPL-3.0', 'AGPL: OSI-approved, but refused for the servers we ship'],
  ['BUSL-1.1', 'Business Source License: source-available, not open source'],
  ['LicenseRef-BUSL', 'Business Source License: source-available, not open source'],
  ['SSPL-1.0', 'Server Side Public License: not OSI-approved'],
  ['Elastic-2.0', 'Elastic License: source-available, not open source'],
  ['LicenseRef-Elastic', 'Elastic License: source-available, not open source'],
  ['Commons-Clause', 'Commons Clause rider: forbids selling, so the licence is not open source'],
  ['CC0-1.0', 'CC0-1.0: a public-domain dedication the OSI has not approved'],
  ['BSD-4-Clause', 'BSD-4-Clause (advertising clause): not OSI-approved'],
  ['WTFPL', 'WTFPL: not OSI-approved'],
  ['UNLICENSED', 'UNLICENSED: npm marker for a package not licensed for use by others'],
  ['unknown', 'no licence found'],
])

/** Exceptions that only add permissions to the licence they modify. */
const permissiveExceptions = new Set([
  'LLVM-exception',
  'Classpath-exception-2.0',
  'GCC-exception-2.0',
  'GCC-exception-3.1',
  'Autoconf-exception-3.0',
  'Bison-exception-2.2',
  'Font-exception-2.0',
  'Linux-syscall-note',
])

/** SPDX's older and newer spellings of the same licence, to the one the sets above use. */
function canonicalId(id: string): string {
  const bare = id.replace(/-(only|or-later)$/, '')
  const all = [...approved, ...copyleft, ...refused.keys()]
  return all.find((known) => known.toLowerCase() === bare.toLowerCase()) ?? bare
}

const REFUSE = 0
const COPYLEFT = 1
const PASS = 2

interface LicenceStanding {
  score: number
  reason: string
}

/** How the gate treats one licence of an expression. */
export function licenceStanding(licence: SpdxLicence): LicenceStanding {
  const id = canonicalId(licence.id)
  let standing: LicenceStanding
  if (approved.has(id)) standing = { score: PASS, reason: '' }
  else if (copyleft.has(id)) standing = { score: COPYLEFT, reason: `${id}: OSI-approved copyleft` }
  else
    standing = {
      score: REFUSE,
      reason: refused.get(id) ?? `${licence.id}: not an OSI-approved licence this gate knows`,
    }
  if (
    standing.score !== REFUSE &&
    licence.exception !== undefined &&
    !permissiveExceptions.has(licence.exception)
  ) {
    return { score: REFUSE, reason: `exception ${licence.exception}: not known to only add permissions` }
  }
  return standing
}

/** The verdict of the rules alone (no allow-list) on a licence expression. */
export function judgeLicence(expression: string): { verdict: 'pass' | 'copyleft' | 'refused'; note: string } {
  let node: SpdxNode
  try {
    node = parseSpdxExpression(expression.trim() === '' ? 'unknown' : expression)
  } catch (err) {
    if (err instanceof SpdxSyntaxError) return { verdict: 'refused', note: err.message }
    throw err
  }
  const score = evaluateSpdx(node, (licence) => licenceStanding(licence).score)
  const reasons = (wanted: number): string =>
    [
      ...new Set(
        spdxLicences(node)
          .map(licenceStanding)
          .filter((s) => s.score === wanted)
          .map((s) => s.reason),
      ),
    ].join('; ')
  if (score === PASS) return { verdict: 'pass', note: '' }
  if (score === COPYLEFT) return { verdict: 'copyleft', note: reasons(COPYLEFT) }
  return { verdict: 'refused', note: reasons(REFUSE) }
}

function matches(entry: AllowEntry, c: Component): boolean {
  return (
    entry.ecosystem === c.ecosystem &&
    entry.name === c.name &&
    (entry.version === '*' || entry.version === c.version)
  )
}

export interface PolicyResult {
  judgements: Judgement[]
  /** Allow-list entries that matched no refused component: remove them, or they hide a future change. */
  unusedAllowEntries: AllowEntry[]
}

/** Judges every component; an allow-list entry turns a refusal into `allowed`, with its reason. */
export function applyPolicy(
  components: readonly Component[],
  allowList: readonly AllowEntry[],
): PolicyResult {
  const used = new Set<AllowEntry>()
  const judgements = components.map((c): Judgement => {
    const { verdict, note } = judgeLicence(c.licence)
    if (verdict !== 'refused') return { ...c, verdict, note }
    const entry = allowList.find((e) => matches(e, c))
    if (entry === undefined) return { ...c, verdict, note }
    used.add(entry)
    return { ...c, verdict: 'allowed', note: entry.reason, allowedAs: entry.licence }
  })
  return { judgements, unusedAllowEntries: allowList.filter((e) => !used.has(e)) }
}

/** Validates the allow-list file's content; `source` names the file in errors. */
export function parseAllowList(data: unknown, source: string): AllowEntry[] {
  const bad = (why: string): never => {
    throw new LicenseError('LEAN_ERR_LICENSE_INPUT', `${source}: ${why}`)
  }
  if (!Array.isArray(data)) return bad('must be a JSON array of entries')
  return data.map((raw: unknown, i): AllowEntry => {
    if (typeof raw !== 'object' || raw === null) return bad(`entry ${i} is not an object`)
    const e = raw as Record<string, unknown>
    const text = (field: string): string => {
      const v = e[field]
      if (typeof v !== 'string' || v.trim() === '')
        return bad(`entry ${i}: "${field}" must be a non-empty string`)
      return v
    }
    const ecosystem = text('ecosystem')
    if (!(ECOSYSTEMS as readonly string[]).includes(ecosystem)) {
      return bad(`entry ${i}: "ecosystem" must be ${ECOSYSTEMS.map((e) => `"${e}"`).join(', ')}`)
    }
    const extra = Object.keys(e).filter(
      (k) => !['ecosystem', 'name', 'version', 'licence', 'reason'].includes(k),
    )
    if (extra.length > 0) bad(`entry ${i}: unknown field(s) ${extra.join(', ')}`)
    return {
      ecosystem: ecosystem as Ecosystem,
      name: text('name'),
      version: text('version'),
      licence: text('licence'),
      reason: text('reason'),
    }
  })
}
