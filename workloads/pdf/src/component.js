// The PDF service component: Hono routes over the shared handler, backed by
// the runner's capability API (set up on the first request, see guest-runtime.js).
import { Hono } from 'hono'
import { fire } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
// The fonts are bundled at build time (see build-component.ts), in the order
// of font-list.ts: each import is the file's bytes.
import notoSans from 'font:NotoSans-Regular.ttf'
import notoSansArabic from 'font:NotoSansArabic-Regular.ttf'
import notoSansHebrew from 'font:NotoSansHebrew-Regular.ttf'
import notoSansDevanagari from 'font:NotoSansDevanagari-Regular.ttf'
import notoSansThai from 'font:NotoSansThai-Regular.ttf'
import notoSansBengali from 'font:NotoSansBengali-Regular.ttf'
import notoSansTamil from 'font:NotoSansTamil-Regular.ttf'
import notoSansTelugu from 'font:NotoSansTelugu-Regular.ttf'
import notoSansGujarati from 'font:NotoSansGujarati-Regular.ttf'
import notoSansGurmukhi from 'font:NotoSansGurmukhi-Regular.ttf'
import notoSansKannada from 'font:NotoSansKannada-Regular.ttf'
import notoSansMalayalam from 'font:NotoSansMalayalam-Regular.ttf'
import notoSansSinhala from 'font:NotoSansSinhala-Regular.ttf'
import notoSansKhmer from 'font:NotoSansKhmer-Regular.ttf'
import notoSansLao from 'font:NotoSansLao-Regular.ttf'
import notoSansMyanmar from 'font:NotoSansMyanmar-Regular.ttf'
import notoSansGeorgian from 'font:NotoSansGeorgian-Regular.ttf'
import notoSansArmenian from 'font:NotoSansArmenian-Regular.ttf'
import notoSansEthiopic from 'font:NotoSansEthiopic-Regular.ttf'
import droidSansFallback from 'font:DroidSansFallbackFull.ttf'
import nanumGothic from 'font:NanumGothic.ttf'
import dejaVuSans from 'font:DejaVuSans.ttf'
import { bundledFonts } from './font-list.ts'
import { FontSet } from './font-set.ts'
import { lazyRuntime } from '../../shared/guest-runtime.js'
import { createPdf, pdfSettingsFrom } from './pdf-service.ts'
import { renderPdf } from './render-pdf.ts'

const fontBytes = [notoSans, notoSansArabic, notoSansHebrew, notoSansDevanagari, notoSansThai, notoSansBengali, notoSansTamil, notoSansTelugu, notoSansGujarati, notoSansGurmukhi, notoSansKannada, notoSansMalayalam, notoSansSinhala, notoSansKhmer, notoSansLao, notoSansMyanmar, notoSansGeorgian, notoSansArmenian, notoSansEthiopic, droidSansFallback, nanumGothic, dejaVuSans]
let fontSet
/** Opened on the first text outside Latin-1: fontkit reads the tables it needs lazily. */
const fonts = () => (fontSet ??= new FontSet(bundledFonts.map((font, i) => ({ ...font, bytes: fontBytes[i] }))))

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
