import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AppStatus } from '../../../controller/app-status.ts'
import { formatAge, formatStatusTable } from '../../../cli/status-table.ts'

const now = new Date('2025-01-01T12:00:00Z')
const status = (over: Partial<AppStatus>): AppStatus => ({
  name: 'x',
  observedIndex: 10,
  phase: 'running',
  healthy: 3,
  desired: 3,
  jobVersion: 4,
  lastError: null,
  lastTransitionTime: '2025-01-01T11:53:00Z',
  ...over,
})

test('one row per app, columns padded to the widest cell; no status reads as pending', () => {
  const table = formatStatusTable(
    [
      { name: 'email', status: status({}) },
      {
        name: 'pdf-renderer',
        status: status({
          phase: 'failed',
          healthy: 0,
          desired: 2,
          jobVersion: null,
          lastError: '2 allocation(s) failed',
          lastTransitionTime: '2025-01-01T11:59:18Z',
        }),
      },
      { name: 'new' },
    ],
    now,
  )
  assert.equal(
    table,
    [
      'NAME           PHASE     HEALTHY   DESIRED   VERSION   AGE   LAST-ERROR',
      'email          running   3         3         4         7m    -',
      'pdf-renderer   failed    0         2         -         42s   2 allocation(s) failed',
      'new            pending   -         -         -         -     -',
      '',
    ].join('\n'),
  )
})

test('long or multi-line errors stay on one line, cut at 80 characters', () => {
  const table = formatStatusTable(
    [
      {
        name: 'a',
        status: status({
          phase: 'invalid',
          lastError: `count: expected\n  a whole number ${'x'.repeat(200)}`,
        }),
      },
    ],
    now,
  )
  const row = table.split('\n')[1]!
  assert.match(row, /invalid .* count: expected a whole number x+…$/)
  assert.equal(row.slice(row.indexOf('count:')).length, 80)
})

test('an unreadable status document is shown as such, not as pending', () => {
  assert.match(
    formatStatusTable([{ name: 'a', status: 'unreadable' }], now),
    /\na +unknown .* the status document is not valid JSON\n$/,
  )
})

test('age is the largest whole unit', () => {
  assert.deepEqual([0, 59_999, 60_000, 3_599_999, 3_600_000, 86_400_000 * 3 + 5, -5].map(formatAge), [
    '0s',
    '59s',
    '1m',
    '59m',
    '1h',
    '3d',
    '0s',
  ])
})
