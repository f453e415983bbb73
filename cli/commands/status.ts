// `leanctl status [app]`: the status table, over every app or one.
import { listApps, parseStatus, type AppRow } from '../apps.ts'
import type { Context } from '../context.ts'
import { NotFoundError } from '../errors.ts'
import { formatStatusTable } from '../status-table.ts'

async function oneApp(ctx: Context, app: string): Promise<AppRow[]> {
  const [spec, status] = await Promise.all([
    ctx.kv.get(ctx.config.appsPrefix + app),
    ctx.kv.get(ctx.config.statusPrefix + app),
  ])
  if (!spec && !status)
    throw new NotFoundError(`app/${app} not found (no key ${ctx.config.appsPrefix}${app})`)
  return [{ name: app, ...(status && { status: parseStatus(status.value) }) }]
}

export async function status(ctx: Context, app: string | undefined): Promise<number> {
  const rows = app === undefined ? await listApps(ctx.kv, ctx.config) : await oneApp(ctx, app)
  if (rows.length === 0) {
    ctx.io.err(`no apps under ${ctx.config.appsPrefix}\n`)
    return 0
  }
  ctx.io.out(formatStatusTable(rows, new Date()))
  return 0
}
