import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseAppSpec, renderAppJob, SpecError } from '../../../jobs/app-spec.ts'

const sha256 = 'ab'.repeat(32)
const wasm = { kind: 'wasm-service', component: { sha256 }, count: 6, port: 'dynamic' }
const vm = { kind: 'vm', image: { sha256 }, vcpus: 1, memory: '128MiB', ports: { http: 8080 } }

const group = (doc: object) => renderAppJob(parseAppSpec('app', JSON.stringify(doc))).TaskGroups[0]!
function problem(doc: object): string {
  try {
    parseAppSpec('app', JSON.stringify(doc))
  } catch (err) {
    assert.ok(err instanceof SpecError)
    return err.message
  }
  return assert.fail('accepted')
}

test("spread and constraints render to Nomad's own, for both kinds; a document without them renders neither", () => {
  for (const doc of [wasm, vm]) {
    const g = group({ ...doc, spread: true, constraints: ['kvm', { attribute: 'meta.rack', operator: '!=', value: 'r1' }, { attribute: 'node.class', operator: 'is_set' }] })
    assert.deepEqual(g.Spreads, [{ Attribute: '${node.unique.id}', Weight: 100 }])
    assert.deepEqual(g.Constraints, [
      { LTarget: '${attr.driver.virt.accelerator}', Operand: '=', RTarget: 'kvm' },
      { LTarget: '${meta.rack}', Operand: '!=', RTarget: 'r1' },
      { LTarget: '${node.class}', Operand: 'is_set' },
    ])
    const plain = group(doc)
    assert.equal('Spreads' in plain, false)
    assert.equal('Constraints' in plain, false)
    assert.equal('Spreads' in group({ ...doc, spread: false }), false)
  }
})

test('placement refusals name the field; nothing a document says reaches Nomad as an interpolation', () => {
  const cases: Array<[object, RegExp]> = [
    [{ spread: 'yes' }, /^spread: expected true or false/],
    [{ constraints: 'kvm' }, /^constraints: expected a list/],
    [{ constraints: ['gpu'] }, /^constraints\[0\]: expected an object .* or one of: kvm/],
    [{ constraints: [{ attribute: 'attr.x', value: '${node.unique.name}' }] }, /^constraints\[0\]\.value: expected 1 to 200 printable characters, without "\$\{"/],
    [{ constraints: [{ attribute: 'attr.x', value: '%{x}' }] }, /^constraints\[0\]\.value: /],
    [{ constraints: [{ attribute: '${attr.x}', value: 'a' }] }, /^constraints\[0\]\.attribute: expected attr\.<name>/],
    [{ constraints: [{ attribute: 'env.HOME', value: 'a' }] }, /^constraints\[0\]\.attribute: /],
    [{ constraints: [{ attribute: 'attr.x', operator: 'contains', value: 'a' }] }, /^constraints\[0\]\.operator: expected one of =, !=, regexp, version, is_set, is_not_set/],
    [{ constraints: [{ attribute: 'attr.x', operator: 'is_set', value: 'a' }] }, /^constraints\[0\]\.value: is_set takes no value/],
    [{ constraints: [{ attribute: 'attr.x' }] }, /^constraints\[0\]\.value: /],
    [{ constraints: [{ attribute: 'attr.x', value: 'a', weight: 5 }] }, /^constraints\[0\]\.weight: unknown field/],
    [{ constraints: Array.from({ length: 9 }, () => 'kvm') }, /^constraints: at most 8/],
  ]
  for (const doc of [wasm, vm]) for (const [extra, reason] of cases) assert.match(problem({ ...doc, ...extra }), reason, JSON.stringify(extra))
})
