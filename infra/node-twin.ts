// The plain Node twins of the two components: the same handlers under
// fastify, for comparison and for running without Nomad.
//
//   tsx infra/node-twin.ts pdf|email [--port 8090] [--host 127.0.0.1]
//
// Settings come from the same variables as the components (PDF_BUCKET,
// PDF_MAX_TEXT_BYTES, ...); backends from cloud.env (S3_*, DATABASE_URL,
// CONSUL_DNS_ADDR, SMTP_ADDR).
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { loadConfig, layout } from './cloud/config.ts'
import { readEnvFile } from './cloud/credentials.ts'
import { emailSettingsFrom, sendPdf } from '../workloads/email/src/email-service.ts'
import { createPdf, pdfSettingsFrom } from '../workloads/pdf/src/pdf-service.ts'
import { emailNodeBackends, pdfNodeBackends, twinEnvironment } from '../workloads/node/node-backends.ts'

export type Twin = 'pdf' | 'email'

export async function buildTwin(which: Twin, vars: Record<string, string | undefined>): Promise<FastifyInstance> {
  const level = vars.LOG_LEVEL ?? 'warn'
  const app = Fastify({ logger: { level, base: { service: which } }, bodyLimit: 8 * 1024 * 1024 })
  const log = pino({ level, base: { service: which } })
  // The handlers parse their own JSON, as the components do, so errors read the same.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body))
  const env = (name: string) => vars[name]
  app.get('/health', async () => ({ status: 'ok' }))
  if (which === 'pdf') {
    const settings = pdfSettingsFrom(env)
    // Its rows are the `pdf` app's, as the PDF service's would be.
    const backends = await pdfNodeBackends(twinEnvironment(vars, ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'DATABASE_URL', 'CONSUL_DNS_ADDR']), which, log)
    app.addHook('onClose', () => backends.close())
    app.post('/', async (req, res) => {
      const answer = await createPdf(String(req.body ?? ''), req.ip, settings, backends)
      return res.code(answer.status).send(answer.body)
    })
  } else {
    const settings = emailSettingsFrom(env)
    const backends = emailNodeBackends(twinEnvironment(vars, ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'SMTP_ADDR']), vars.SMTP_FROM ?? 'Lean Cloud <noreply@lean-cloud.localhost>')
    app.addHook('onClose', () => backends.close())
    app.post('/send', async (req, res) => {
      const key = req.headers['idempotency-key']
      const answer = await sendPdf(String(req.body ?? ''), settings, backends, typeof key === 'string' ? key : undefined)
      return res.code(answer.status).send(answer.body)
    })
  }
  return app
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { port: { type: 'string', default: '8090' }, host: { type: 'string', default: '127.0.0.1' } } })
  const which = positionals[0]
  if (which !== 'pdf' && which !== 'email') {
    process.stderr.write('usage: serve.ts pdf|email [--port N] [--host H]\n')
    process.exit(2)
  }
  const vars = { ...(await readEnvFile(layout(loadConfig()).envFile)), ...process.env }
  const app = await buildTwin(which, vars)
  const address = await app.listen({ port: Number(values.port), host: values.host })
  process.stdout.write(`${which} (plain Node) listening on ${address}\n`)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void app.close().then(() => process.exit(0)))
}
