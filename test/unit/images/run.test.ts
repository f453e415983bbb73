import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ImageError } from '../../../infra/images/errors.ts'
import { missingToolMessage, run } from '../../../infra/images/run.ts'

test('a missing tool is named with the Debian package that provides it', async () => {
  assert.match(
    missingToolMessage('qemu-img'),
    /qemu-img is not installed: install the Debian package qemu-utils/,
  )
  assert.match(missingToolMessage('cloud-localds'), /cloud-image-utils/)
  await assert.rejects(
    run('lean-cloud-no-such-tool', []),
    (err: unknown) =>
      err instanceof ImageError && /lean-cloud-no-such-tool is not installed/.test(err.message),
  )
})

test('a failing tool is named with its exit code and output', async () => {
  assert.equal(await run('sh', ['-c', 'echo out']), 'out\n')
  await assert.rejects(
    run('sh', ['-c', 'echo broken >&2; exit 3']),
    /sh -c echo broken.* failed with exit code 3:\nbroken/,
  )
})
