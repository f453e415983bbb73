// Runs last-agnostic: it takes the shared cloud down and brings it back up.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { rm } from 'node:fs/promises'
import pg from 'pg'
import { agents } from '../../../infra/cloud/agents/all.ts'
import { layout } from '../../../infra/cloud/config.ts'
import { cloudEnv, loadOrCreateCredentials } from '../../../infra/cloud/credentials.ts'
import { down } from '../../../infra/cloud/down.ts'
import { mountsUnder } from '../../../infra/cloud/agents/nomad.ts'
import { isAlive, processesUnder } from '../../../infra/cloud/processes.ts'
import { agentStatus, up } from '../../../infra/cloud/up.ts'
import { useCloud } from '../../harness/cloud.ts'

const quiet = () => {}

test('up is idempotent, and down leaves no process behind', async () => {
  const { config } = await useCloud()

  const again = await up(config, quiet)
  assert.deepEqual(again.started, [], 'a second up starts nothing')
  assert.deepEqual(again.reused.sort(), agents.map((a) => a.name).sort())

  const credentials = await loadOrCreateCredentials(config)
  const pids = (await Promise.all(agents.map((a) => agentStatus(config, a, credentials)))).map((s) => s.pid)
  assert.ok(pids.every((p) => typeof p === 'number'))

  await down(config, quiet)
  // isAlive reads /proc: a zombie waiting for its parent to reap it counts as gone.
  for (const pid of pids) assert.equal(await isAlive(pid!), false, `pid ${pid} still runs after down`)
  assert.deepEqual(await processesUnder(config.dataDir), [])
  assert.deepEqual(await processesUnder(config.postgresDataDir), [])
  assert.deepEqual(await mountsUnder(config.dataDir), [], 'no task tmpfs is left mounted in the data dir')
  for (const agent of agents) assert.equal((await agentStatus(config, agent, credentials)).healthy, false)

  // Leave the cloud as we found it, and prove a restart keeps the data.
  const back = await up(config, quiet)
  assert.deepEqual(back.started.sort(), agents.map((a) => a.name).sort())
})

test('a data dir recreated at the same path gets a working database again', async () => {
  const { config } = await useCloud()
  // What a fresh clone at a reused path looks like: the PostgreSQL cluster
  // (outside the data dir) survives, the credentials that opened it do not.
  await down(config, quiet)
  await rm(layout(config).credentials)
  await up(config, quiet)
  const env = cloudEnv(config, await loadOrCreateCredentials(config))
  const client = new pg.Client({ connectionString: env.DATABASE_URL })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations')
    assert.ok(Number(rows[0]!.n) >= 1, 'migrations applied to the new cluster')
  } finally {
    await client.end()
  }
})
