import assert from 'node:assert/strict'
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { useCloud } from '../../harness/cloud.ts'
import { helloComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, stopJob, waitForAllocs, waitForTaskEvent, wasmJob } from '../../harness/wasm-job.ts'
import { publishComponent, s3FromEnv } from '../../../infra/components/publish.ts'
import { ARTIFACTS_BUCKET } from '../../../ground/buckets.ts'

test('a component published to S3 by digest is fetched, verified and run from s3://', async (t) => {
  const { config, env } = await useCloud()
  const hello = await helloComponent()
  const { key } = await publishComponent(s3FromEnv(env, 'publisher'), { name: 'hello', file: hello.file, bytes: 0, sha256: hello.sha256 })
  // Empty the client's caches for this digest (the fetched file, the compiled artefact), so the driver must really fetch.
  const cache = path.join(config.dataDir, 'nomad', 'wasm-cache')
  await rm(path.join(cache, 'components', `${hello.sha256}.wasm`), { force: true })
  for (const file of await readdir(path.join(cache, 'wasmtime')).catch(() => [] as string[])) {
    if (file.startsWith(hello.sha256)) await rm(path.join(cache, 'wasmtime', file), { force: true })
  }

  const id = uniqueName('from-s3')
  await nomad(env.NOMAD_ADDR!, 'PUT', '/v1/jobs', wasmJob(id, { file: `s3://${ARTIFACTS_BUCKET}/${key}`, sha256: hello.sha256 }))
  t.after(() => stopJob(env.NOMAD_ADDR!, id).catch(() => {}))
  const [alloc] = await waitForAllocs(env.NOMAD_ADDR!, id, 1, 'running')
  await waitForTaskEvent(env.NOMAD_ADDR!, alloc!.ID, /after fetching and compiling/)
  assert.equal(await (await fetch(`${allocAddress(alloc!)}/`)).text(), 'hello from wasm\n')
})
