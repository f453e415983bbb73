// A broken agent is explained, and the command it names brings it back
// without touching the cloud's data.
import assert from 'node:assert/strict'
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { ConsulKv } from '../../../controller/consul-kv.ts'
import { layout } from '../../../infra/cloud/config.ts'
import { CloudError } from '../../../infra/cloud/errors.ts'
import { reset, up } from '../../../infra/cloud/up.ts'
import { stopAgent, useCloud } from '../../harness/cloud.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'

const quiet = () => {}

/** Every file below dir whose name is `name`. */
async function filesNamed(dir: string, name: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true })
  return entries.filter((e) => path.basename(e) === name).map((e) => path.join(dir, e))
}

test('Nomad with broken state: cloud:up names it, shows its log and the reset command; the reset keeps KV', async (t) => {
  const { config, env } = await useCloud()
  const kv = new ConsulKv(env.CONSUL_HTTP_ADDR!, env.CONSUL_HTTP_TOKEN)
  const key = `${uniqueName('reset')}/kept`
  await kv.set(key, 'still here')
  t.after(() => kv.deleteTree(key))

  await stopAgent('nomad')
  const stateFiles = await filesNamed(layout(config).nomadData, 'raft.db')
  assert.ok(stateFiles.length > 0, 'Nomad keeps its raft state in raft.db')
  for (const file of stateFiles) await writeFile(file, 'this is not a bolt database'.repeat(200))

  await assert.rejects(up(config, quiet), (err: unknown) => {
    assert.ok(err instanceof CloudError)
    assert.equal(err.code, 'LEAN_ERR_CLOUD_START')
    assert.match(err.message, /^nomad exited during start/)
    assert.match(err.message, /Last lines of .*nomad\.log/)
    assert.match(err.message, /npm run cloud:reset -- nomad/)
    return true
  })

  const result = await reset(config, ['nomad'], quiet)
  assert.ok(result.started.includes('nomad'))
  const nodes = await nomad<Array<{ Status: string }>>(env.NOMAD_ADDR!, 'GET', '/v1/nodes')
  assert.ok(nodes.some((n) => n.Status === 'ready'), 'a fresh Nomad with a ready node')
  assert.equal((await kv.get(key))?.value, 'still here', 'Consul KV is untouched')
})

test('the agents that hold the cloud’s data have no reset', async () => {
  const { config } = await useCloud()
  for (const name of ['consul', 's3', 'postgres']) {
    await assert.rejects(reset(config, [name], quiet), (err: unknown) => err instanceof CloudError && err.code === 'LEAN_ERR_CLOUD_RESET' && err.message.includes('holds the cloud'))
  }
  await assert.rejects(reset(config, ['vault'], quiet), /no agent is named 'vault'/)
})
