import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fieldValue, parseDuration, parseSize, UnitError } from '../../../ground/units.ts'

test('sizes: binary and decimal units in any case, a bare number is bytes', () => {
  assert.equal(parseSize('512KiB'), 512 * 1024)
  assert.equal(parseSize('64mib'), 64 * 1024 ** 2)
  assert.equal(parseSize('2GB'), 2e9)
  assert.equal(parseSize(' 1.5 MiB '), 1.5 * 1024 ** 2)
  assert.equal(parseSize('4096'), 4096)
  for (const bad of ['', 'lots', '-1MiB', '0', '1 XB', '1e3'])
    assert.throws(() => parseSize(bad), (err: UnitError) => err instanceof UnitError && err.reason === err.message, bad)
})

test("durations: Go's grammar, compound and fractional", () => {
  assert.equal(parseDuration('500ms'), 500)
  assert.equal(parseDuration('1.5s'), 1500)
  assert.equal(parseDuration('1h30m10s'), 5_410_000)
  for (const bad of ['', '5', '5 m', '-1s', '1d', '0s', 's'])
    assert.throws(() => parseDuration(bad), UnitError, bad)
})

test('fieldValue names the field in the caller\'s own error and lets other errors through', () => {
  class Mine extends Error {}
  const fail = (field: string, reason: string): never => {
    throw new Mine(`${field}: ${reason}`)
  }
  assert.equal(fieldValue('limits.x', () => parseSize('1KiB'), fail), 1024)
  assert.throws(() => fieldValue('limits.x', () => parseSize('lots'), fail), (err: Error) => err instanceof Mine && err.message === 'limits.x: expected a size such as "512KiB" or "64MiB", got "lots"')
  assert.throws(() => fieldValue('limits.x', () => { throw new RangeError('other') }, fail), RangeError)
})
