// `leanctl delete`: removes the app's document; the controller then stops and purges its job.
import type { Context } from '../context.ts'
import { NotFoundError } from '../errors.ts'

export async function deleteApp(ctx: Context, app: string): Promise<number> {
  const key = ctx.config.appsPrefix + app
  if (!(await ctx.kv.get(key))) throw new NotFoundError(`app/${app} not found (no key ${key})`)
  await ctx.kv.delete(key)
  ctx.io.out(`app/${app} deleted\n`)
  return 0
}
