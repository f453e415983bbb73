// The PDF service component: Hono routes over the shared handler, backed by
// the runner's capability API. Settings are read on the first request, not
// at module load: the module is pre-initialised at build time, when the
// task's environment does not exist yet.
import { Hono } from 'hono'
import { fire } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
import { getEnvironment } from 'wasi:cli/environment@0.2.12'
// The font is bundled at build time (see build-component.ts).
import unicodeFont from 'font:DejaVuSans.ttf'
import { capabilityClient } from '../../shared/capability-client.ts'
import { createPdf, pdfSettingsFrom } from './pdf-service.ts'
import { renderPdf } from './render-pdf.ts'

let runtime
function setup() {
  if (runtime) return runtime
  const vars = new Map(getEnvironment())
  const env = (name) => vars.get(name)
  const caps = capabilityClient(env)
  const backends = {
    render: (text) => renderPdf(text, { unicodeFont, title: 'Generated document' }),
    storeObject: caps.putObjectAndLink,
    deleteObject: caps.deleteObject,
    logRequest: caps.logRequest,
    async requestEmail(service, to, fileId, requestId) {
      const result = await caps.submit(service, '/send', { to, file_id: fileId }, { requestId, statusOnDelivery: 'emailed' })
      return result.delivered ? { delivered: true } : result
    },
  }
  runtime = { settings: pdfSettingsFrom(env), backends }
  return runtime
}

const app = new Hono()
app.get('/health', (c) => c.json({ status: 'ok' }))
app.post('/', async (c) => {
  const { settings, backends } = setup()
  // The runner's front server sets x-forwarded-for to the client's address.
  const clientIp = c.req.header('x-forwarded-for')?.split(',')[0]?.trim() || undefined
  const answer = await createPdf(await c.req.text(), clientIp, settings, backends)
  return c.json(answer.body, answer.status)
})

fire(app)
export { incomingHandler } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
