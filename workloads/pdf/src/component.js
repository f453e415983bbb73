// The PDF service component: Hono routes over the shared handler, backed by
// the runner's capability API (set up on the first request, see guest-runtime.js).
import { Hono } from 'hono'
import { fire } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
import { FontSet } from './font-set.ts'
import { hostFonts } from './host-fonts.ts'
import { lazyRuntime } from '../../shared/guest-runtime.js'
import { createPdf, pdfSettingsFrom } from './pdf-service.ts'
import { renderPdf } from './render-pdf.ts'

// The wasm host's platform fonts (lean:text/fonts): asked for on the first
// text outside Latin-1, not at module load (the component is pre-initialised
// at build time, where there is no host to ask).
let fontSet
const fonts = () => (fontSet ??= new FontSet(hostFonts()))

const runtime = lazyRuntime(({ env, caps }) => ({
  settings: pdfSettingsFrom(env),
  backends: {
    render: (text) => renderPdf(text, { fonts, title: 'Generated document' }),
    storeObject: caps.putObjectAndLink,
    deleteObject: caps.deleteObject,
    logRequest: caps.logRequest,
    async requestEmail(service, to, fileId, requestId) {
      const result = await caps.submit(service, '/send', { to, file_id: fileId }, { requestId, statusOnDelivery: 'emailed' })
      return result.delivered ? { delivered: true } : result
    },
  },
}))

const app = new Hono()
app.get('/health', (c) => c.json({ status: 'ok' }))
app.post('/', async (c) => {
  const { settings, backends } = runtime()
  // The runner's front server sets x-forwarded-for to the client's address.
  const clientIp = c.req.header('x-forwarded-for')?.split(',')[0]?.trim() || undefined
  const answer = await createPdf(await c.req.text(), clientIp, settings, backends)
  return c.json(answer.body, answer.status)
})

fire(app)
export { incomingHandler } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
