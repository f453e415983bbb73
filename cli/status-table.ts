// The `leanctl status` table: one row per app, columns padded to their
// widest cell. Pure, so it is tested without Consul.
import type { AppRow } from './apps.ts'

export const COLUMNS = ['NAME', 'PHASE', 'HEALTHY', 'DESIRED', 'VERSION', 'AGE', 'LAST-ERROR'] as const
const MAX_ERROR = 80

/** Time in the current phase, in its largest whole unit: 42s, 7m, 5h, 3d. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > MAX_ERROR ? `${flat.slice(0, MAX_ERROR - 1)}…` : flat
}

function cells(row: AppRow, now: Date): string[] {
  const s = row.status
  // No status yet: the controller has not seen the spec (or is not running).
  if (s === undefined) return [row.name, 'pending', '-', '-', '-', '-', '-']
  if (s === 'unreadable')
    return [row.name, 'unknown', '-', '-', '-', '-', 'the status document is not valid JSON']
  const since = Date.parse(s.lastTransitionTime)
  return [
    row.name,
    s.phase,
    String(s.healthy),
    String(s.desired),
    s.jobVersion === null ? '-' : String(s.jobVersion),
    Number.isNaN(since) ? '-' : formatAge(now.getTime() - since),
    s.lastError ? oneLine(s.lastError) : '-',
  ]
}

export function formatStatusTable(rows: readonly AppRow[], now: Date): string {
  return formatTable(
    COLUMNS,
    rows.map((r) => cells(r, now)),
  )
}

/** A header and rows, each column padded to its widest cell. */
export function formatTable(columns: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const table = [[...columns], ...rows]
  const widths = columns.map((_, i) => Math.max(...table.map((cols) => cols[i]!.length)))
  return table
    .map(
      (cols) =>
        cols
          .map((c, i) => c.padEnd(widths[i]!))
          .join('   ')
          .trimEnd() + '\n',
    )
    .join('')
}
