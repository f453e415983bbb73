// The real servers' inventory: the example reads, defaults are filled, and
// every refusal names its field.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { InventoryError } from '../../../infra/servers/errors.ts'
import { parseInventory, readInventory } from '../../../infra/servers/inventory.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

const server = (i: number, over: Record<string, unknown> = {}) => ({ name: `n${i}`, address: `192.0.2.${10 + i}`, interface: 'eth0', ...over })
const valid = () => ({ servers: [server(1), server(2), server(3)], services: 'n1' })

test('the example inventory reads: three servers, the services on n1, the default dirs', async () => {
  const inventory = await readInventory(path.join(repo, 'examples', 'servers', 'inventory.json'))
  assert.deepEqual(inventory.servers.map((s) => s.address), ['192.0.2.11', '192.0.2.12', '192.0.2.13'])
  assert.equal(inventory.services, 'n1')
  assert.equal(inventory.dataDir, '/var/lib/lean-cloud')
  assert.equal(inventory.installDir, '/opt/lean-cloud')
  assert.ok(Object.isFrozen(inventory) && Object.isFrozen(inventory.servers[0]))
  const defaults = parseInventory(valid())
  assert.equal(defaults.dataDir, '/var/lib/lean-cloud')
  assert.equal(defaults.installDir, '/opt/lean-cloud')
  assert.equal(parseInventory({ ...valid(), dataDir: '/srv/lean/' }).dataDir, '/srv/lean')
})

const refusals: Array<[string, unknown, string, RegExp]> = [
  ['not an object', [], '(document)', /expected a JSON object/],
  ['an unknown top field', { ...valid(), region: 'eu' }, 'region', /unknown field \(allowed: servers, services, dataDir, installDir\)/],
  ['servers not a list', { ...valid(), servers: {} }, 'servers', /expected a list/],
  ['no server', { ...valid(), servers: [] }, 'servers', /expected 1 to 7 servers.*got 0/],
  ['eight servers', { ...valid(), servers: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => server(i)) }, 'servers', /expected 1 to 7 servers.*got 8/],
  ['a server that is not an object', { ...valid(), servers: [server(1), 'n2'] }, 'servers[1]', /expected an object/],
  ['an unknown server field', { ...valid(), servers: [server(1), server(2, { role: 'x' })] }, 'servers[1].role', /unknown field/],
  ['a bad name', { ...valid(), servers: [server(1, { name: 'N 1' })] }, 'servers[0].name', /expected a node name/],
  ['a missing name', { ...valid(), servers: [{ address: '192.0.2.11', interface: 'eth0' }] }, 'servers[0].name', /got nothing/],
  ['an address that is not IPv4', { ...valid(), servers: [server(1), server(2, { address: '192.0.2.300' })] }, 'servers[1].address', /expected an IPv4 address/],
  ['a host name for an address', { ...valid(), servers: [server(1), server(2, { address: 'n2.example.com' })] }, 'servers[1].address', /expected an IPv4 address/],
  ['a loopback address', { ...valid(), servers: [server(1, { address: '127.0.0.2' })] }, 'servers[0].address', /own network address/],
  ['a bad interface', { ...valid(), servers: [server(1, { interface: 'a very long interface name' })] }, 'servers[0].interface', /network interface name/],
  ['a duplicate name', { ...valid(), servers: [server(1), server(2, { name: 'n1' })] }, 'servers[1].name', /already servers\[0\]'s name/],
  ['a duplicate address', { ...valid(), servers: [server(1), server(2), server(3, { address: '192.0.2.12' })] }, 'servers[2].address', /already servers\[1\]'s address/],
  ['services naming no server', { ...valid(), services: 'n9' }, 'services', /one of the servers \(n1, n2, n3\)/],
  ['no services', { servers: [server(1)] }, 'services', /got nothing/],
  ['a relative dataDir', { ...valid(), dataDir: 'var/lib' }, 'dataDir', /absolute path/],
  ['dataDir /', { ...valid(), dataDir: '/' }, 'dataDir', /not \//],
  ['a dataDir with a space', { ...valid(), dataDir: '/srv/lean cloud' }, 'dataDir', /absolute path/],
  ['installDir inside dataDir', { ...valid(), installDir: '/var/lib/lean-cloud/opt' }, 'installDir', /apart from dataDir/],
]

for (const [what, document, field, reason] of refusals) {
  test(`the inventory refuses ${what}, naming ${field}`, () => {
    assert.throws(
      () => parseInventory(document),
      (err: unknown) => err instanceof InventoryError && err.code === 'LEAN_ERR_SERVERS_INVENTORY' && err.field === field && reason.test(err.message) && err.message.startsWith(`inventory ${field}: `),
    )
  })
}

test('an inventory file that is missing or not JSON is refused, naming the file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lean-inventory-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'inventory.json')
  await assert.rejects(readInventory(file), /inventory \(file\): cannot read .*inventory\.json/)
  await writeFile(file, '{ "servers": [')
  await assert.rejects(readInventory(file), /inventory \(file\): .*inventory\.json is not JSON/)
  await writeFile(file, JSON.stringify({ ...valid(), servers: [server(1, { address: '10.0.0' })] }))
  await assert.rejects(readInventory(file), /^InventoryError: inventory servers\[0\]\.address: expected an IPv4 address, got "10\.0\.0"$/m)
})
