// The email worker component: Hono routes over the shared handler; the
// runner's capability API checks the file and sends the mail over SMTP.
import { Hono } from 'hono'
import { fire } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
import { getEnvironment } from 'wasi:cli/environment@0.2.12'
import { CapabilityError, capabilityClient } from '../../shared/capability-client.ts'
import { MailDeliveryError, emailSettingsFrom, sendPdf } from './email-service.ts'

let runtime
function setup() {
  if (runtime) return runtime
  const vars = new Map(getEnvironment())
  const env = (name) => vars.get(name)
  const caps = capabilityClient(env)
  const backends = {
    objectExists: caps.objectExists,
    async sendMail(mail) {
      try {
        return await caps.sendMail(mail)
      } catch (err) {
        if (err instanceof CapabilityError) throw new MailDeliveryError(err.message, err.status === 503 ? 503 : 502)
        throw err
      }
    },
  }
  runtime = { settings: emailSettingsFrom(env), backends }
  return runtime
}

const app = new Hono()
app.get('/health', (c) => c.json({ status: 'ok' }))
app.post('/send', async (c) => {
  const { settings, backends } = setup()
  const answer = await sendPdf(await c.req.text(), settings, backends)
  return c.json(answer.body, answer.status)
})

fire(app)
export { incomingHandler } from '@bytecodealliance/jco-std/wasi/0.2.12/http/adapters/hono/server'
