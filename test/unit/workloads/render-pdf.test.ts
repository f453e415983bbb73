import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cleanText, wrapLines } from '../../../workloads/pdf/src/render-pdf.ts'

const chars = (s: string) => s.length

test('lines break at spaces and never exceed the width', () => {
  const lines = wrapLines('the quick brown fox jumps over the lazy dog', 10, chars)
  assert.deepEqual(lines, ['the quick', 'brown fox', 'jumps over', 'the lazy', 'dog'])
  for (const line of lines) assert.ok(line.length <= 10)
})

test('paragraphs and blank lines are kept; over-long words are cut into pieces that fit', () => {
  assert.deepEqual(wrapLines('ab\n\ncd', 10, chars), ['ab', '', 'cd'])
  assert.deepEqual(wrapLines('abcdefghijkl', 5, chars), ['abcde', 'fghij', 'kl'])
})

test('a megabyte-long word wraps in linear time', () => {
  const lines = wrapLines('x'.repeat(1 << 20), 80, chars)
  assert.equal(lines.length, Math.ceil((1 << 20) / 80))
})

test('control characters are dropped, tabs become spaces, CRLF becomes LF', () => {
  assert.equal(cleanText('a\tb\r\nc\x07d\re'), 'a    b\ncd\ne')
})
