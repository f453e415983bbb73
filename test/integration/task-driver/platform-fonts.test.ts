// The wasm host's lean:text/fonts import, called by a guest with what a
// hostile one might send: a font that does not exist, more text than one
// call takes, glyphs past a font's end. Each is refused with the host's
// error, the host keeps serving, and nothing names a file on the node.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { useCloud } from '../../harness/cloud.ts'
import { fontsProbeComponent } from '../../harness/components.ts'
import { uniqueName } from '../../harness/names.ts'
import { nomad } from '../../harness/nomad-http.ts'
import { allocAddress, stopJob, waitForAllocs, wasmJob } from '../../harness/wasm-job.ts'

test('a guest reaches only the platform fonts, by index, within the bounds the host sets', async (t) => {
  const { env } = await useCloud()
  const addr = env.NOMAD_ADDR!
  const id = uniqueName('fonts')
  await nomad(addr, 'PUT', '/v1/jobs', wasmJob(id, await fontsProbeComponent(), { instances: 1 }))
  t.after(() => stopJob(addr, id).catch(() => {}))
  const [alloc] = await waitForAllocs(addr, id, 1, 'running')
  const get = async (path: string) => (await (await fetch(`${allocAddress(alloc!)}${path}`)).text()).trim()

  const fonts = await get('/fonts')
  assert.match(fonts, /^ok NotoSans-Regular\.ttf,.*DejaVuSans\.ttf$/)
  assert.equal(await get('/shape?font=0&text=abc'), 'ok 3')
  // Fonts are named by index only: past the list is refused, and -1 reaches nothing either.
  assert.match(await get('/shape?font=22&text=a'), /^error font: no font 22 \(there are 22\)$/)
  // (The guest's bindings pass 4294967295 on as another large number; whichever arrives is refused.)
  assert.match(await get('/shape?font=4294967295&text=a'), /^error font: no font \d{10} \(there are 22\)$/)
  // One call takes at most 1 MiB of text.
  assert.match(await get('/shape?font=0&text=a&repeat=1048577'), /^error text: 1048577 bytes to shape at once, over the 1048576 byte limit$/)
  // Glyph ids past the font's end are refused; ids within it give a program.
  assert.match(await get('/subset?font=0&glyphs=0,65000'), /^error NotoSans-Regular\.ttf: no glyph 65000 \(the font has \d+\)$/)
  assert.match(await get('/subset?font=0&glyphs=0,1,2'), /^ok \d+$/)
  // No answer names where the fonts are on the node.
  for (const answer of [fonts, await get('/shape?font=22&text=a')]) assert.doesNotMatch(answer, /\/usr\/share|\/fonts\//)
  // The host kept serving throughout.
  assert.equal(await get('/health'), 'ok')
})
