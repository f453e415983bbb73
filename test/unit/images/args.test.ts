import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseArgs } from '../../../infra/images/args.ts'

test('no arguments build the tiny image, upload, no verify', () => {
  assert.deepEqual(parseArgs([]), {
    images: ['tiny'],
    verify: false,
    upload: true,
    rebuild: false,
    updatePins: false,
    help: false,
  })
})

test('images come out in a stable order, once each', () => {
  assert.deepEqual(parseArgs(['debian', 'tiny', 'debian']).images, ['tiny', 'debian'])
  assert.deepEqual(parseArgs(['all']).images, ['tiny', 'debian'])
  assert.deepEqual(parseArgs(['debian']).images, ['debian'])
})

test('flags', () => {
  const a = parseArgs(['--verify', '--no-upload', '--rebuild', '--update-pins'])
  assert.equal(a.verify, true)
  assert.equal(a.upload, false)
  assert.equal(a.rebuild, true)
  assert.equal(a.updatePins, true)
  assert.equal(parseArgs(['-h']).help, true)
})

test('an unknown argument is an error that shows the usage', () => {
  assert.throws(() => parseArgs(['--verfy']), /unknown argument '--verfy'[\s\S]*usage: npm run build:images/)
  assert.throws(() => parseArgs(['ubuntu']), /unknown argument 'ubuntu'/)
})
