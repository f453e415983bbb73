import assert from 'node:assert/strict'
import { test } from 'node:test'
import { debFileName, parseDependency, parsePolicyCandidate } from '../../../infra/images/debs.ts'
import { parsePins } from '../../../infra/images/pins.ts'

test('the candidate version from apt-cache policy', () => {
  const policy = `linux-image-cloud-amd64:
  Installed: (none)
  Candidate: 6.1.192-3
  Version table:
     6.1.192-3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
`
  assert.equal(parsePolicyCandidate(policy), '6.1.192-3')
  assert.equal(parsePolicyCandidate('x:\n  Installed: (none)\n  Candidate: (none)\n'), undefined)
  assert.equal(parsePolicyCandidate(''), undefined)
})

test('the kernel package a metapackage stands for', () => {
  const show =
    'Package: linux-image-cloud-amd64\nVersion: 6.1.192-3\nDepends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)\nDescription: Linux for x86-64 cloud (meta-package)\n'
  assert.deepEqual(parseDependency(show, /^linux-image-\d.*-cloud-amd64$/), {
    name: 'linux-image-6.1.0-57-cloud-amd64',
    version: '6.1.192-3',
  })
  const loose =
    'Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool\n'
  assert.deepEqual(parseDependency(loose, /^linux-initramfs-tool$/), { name: 'linux-initramfs-tool' })
  assert.equal(parseDependency(loose, /^linux-image-/), undefined)
})

test("apt's .deb file names escape the epoch", () => {
  assert.equal(
    debFileName('busybox-static', '1:1.35.0-4+deb12u1+b1'),
    'busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb',
  )
  assert.equal(
    debFileName('linux-image-6.1.0-57-cloud-amd64', '6.1.192-3'),
    'linux-image-6.1.0-57-cloud-amd64_6.1.192-3_amd64.deb',
  )
})

test('pins.json needs a name, a version and a digest per role', () => {
  const pin = { name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1', sha256: 'a'.repeat(64) }
  const pins = parsePins(
    JSON.stringify({
      kernel: { ...pin, name: 'linux-image-x', from: 'linux-image-cloud-amd64' },
      busybox: pin,
    }),
  )
  assert.equal(pins.kernel.from, 'linux-image-cloud-amd64')
  assert.deepEqual(pins.busybox, pin)
  assert.throws(() => parsePins(JSON.stringify({ kernel: pin })), /'busybox' must have/)
  assert.throws(
    () => parsePins(JSON.stringify({ kernel: pin, busybox: { ...pin, sha256: 'xyz' } })),
    /'busybox' must have/,
  )
})
