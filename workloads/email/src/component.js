// The email worker component: Hono routes over the shared handler; the
// runner's capability API checks the file and sends the mail over SMTP.
import { Hono } from 'hono'
import { fire } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
import { CapabilityError } from '../../shared/capability-client.ts'
import { lazyRuntime } from '../../shared/guest-runtime.js'
import { MailDeliveryError, emailSettingsFrom, sendPdf } from './email-service.ts'

const runtime = lazyRuntime(({ env, caps }) => ({
  settings: emailSettingsFrom(env),
  backends: {
    objectExists: caps.objectExists,
    async sendMail(mail) {
      try {
        return await caps.sendMail(mail)
      } catch (err) {
        if (err instanceof CapabilityError) throw new MailDeliveryError(err.message, err.status === 503 || err.status === 409 ? err.status : 502)
        throw err
      }
    },
  },
}))

const app = new Hono()
app.get('/health', (c) => c.json({ status: 'ok' }))
app.post('/send', async (c) => {
  const { settings, backends } = runtime()
  const answer = await sendPdf(await c.req.text(), settings, backends, c.req.header('idempotency-key'))
  return c.json(answer.body, answer.status)
})

fire(app)
export { incomingHandler } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
