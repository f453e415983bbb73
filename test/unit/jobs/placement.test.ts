import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseAppSpec, renderAppJob, SpecError } from '../../../jobs/app-spec.ts'
import { PLACEMENT } from './app-document-examples.ts'

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
  for (const doc of PLACEMENT.kinds) {
    const g = group({ ...doc, ...PLACEMENT.placed })
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
  for (const doc of PLACEMENT.kinds)
    for (const [extra, reason] of PLACEMENT.refusals)
      assert.match(problem({ ...doc, ...extra }), reason, JSON.stringify(extra))
})
