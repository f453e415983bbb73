// Service names and ingress hosts belong to the app that declared them first
// (the lower create index); the others that ask for them are named, and a
// change of owner names the apps whose standing changed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NameClaims, type ListedApp } from '../../../controller/name-claims.ts'

const sha256 = 'ab'.repeat(32)
const doc = (extra: object = {}) => JSON.stringify({ kind: 'wasm-service', component: { sha256 }, ...extra })
const app = (name: string, createIndex: number, extra: object = {}, modifyIndex = createIndex): ListedApp => ({ name, createIndex, modifyIndex, value: doc(extra) })
const claims = (c: NameClaims, name: string, createIndex: number, service: string, host?: string) =>
  c.conflict(name, createIndex, [{ kind: 'service', name: service, field: 'service.name' }, ...(host ? [{ kind: 'ingress host' as const, name: host, field: 'ingress.host' }] : [])])

test('the first to declare a service name owns it; a later app asking for it is told the owner', () => {
  const c = new NameClaims()
  assert.equal(c.ready, false)
  c.update([app('pdf', 10), app('aaa', 20, { service: { name: 'pdf' } })])
  assert.equal(c.ready, true)
  assert.equal(claims(c, 'pdf', 10, 'pdf'), undefined)
  assert.deepEqual(claims(c, 'aaa', 20, 'pdf'), { claim: { kind: 'service', name: 'pdf', field: 'service.name' }, owner: 'pdf' })
})

test('ingress hosts are claimed apart from service names', () => {
  const c = new NameClaims()
  c.update([app('pdf', 10, { ingress: true }), app('aaa', 20, { ingress: { host: 'pdf' } })])
  assert.equal(claims(c, 'aaa', 20, 'aaa', 'pdf')?.owner, 'pdf')
  assert.equal(claims(c, 'aaa', 20, 'aaa', 'other'), undefined)
})

test('when the owner goes, the next claimant is named as changed, and then owns the name', () => {
  const c = new NameClaims()
  c.update([app('pdf', 10), app('aaa', 20, { service: { name: 'pdf' } }), app('bystander', 30)])
  const changed = c.update([app('aaa', 20, { service: { name: 'pdf' } }), app('bystander', 30)])
  assert.deepEqual(changed.sort(), ['aaa', 'pdf'])
  assert.equal(claims(c, 'aaa', 20, 'pdf'), undefined)
  assert.deepEqual(c.update([app('aaa', 20, { service: { name: 'pdf' } }), app('bystander', 30)]), [], 'nothing changed, no one named')
})

test('an invalid document claims nothing', () => {
  const c = new NameClaims()
  c.update([{ name: 'broken', createIndex: 5, modifyIndex: 5, value: '{' }, app('pdf', 10)])
  assert.equal(claims(c, 'pdf', 10, 'pdf'), undefined)
})
