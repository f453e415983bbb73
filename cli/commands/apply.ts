// `leanctl apply`: validate locally, then write with Consul's check-and-set
// against the index we read, so a concurrent change is never overwritten.
import { isDeepStrictEqual } from 'node:util'
import { parseAppSpec } from '../../jobs/app-spec.ts'
import type { Context } from '../context.ts'
import { loadDocument } from '../documents.ts'
import { ConflictError } from '../errors.ts'

function sameDocument(stored: string, next: string): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(stored), JSON.parse(next))
  } catch {
    return false // what is stored is not JSON: replacing it is a change
  }
}

export async function apply(ctx: Context, file: string, app: string): Promise<number> {
  const doc = await loadDocument(file, () => ctx.io.readStdin())
  parseAppSpec(app, doc.json) // throws AppSpecError: nothing is written
  const key = ctx.config.appsPrefix + app
  const current = await ctx.kv.get(key)
  if (current && sameDocument(current.value, doc.json)) {
    ctx.io.out(`app/${app} unchanged\n`)
    return 0
  }
  // cas=0 writes only if the key is still absent; cas=N only if it is still at index N.
  const index = current?.modifyIndex ?? 0
  if (!(await ctx.kv.set(key, doc.json, index))) {
    const was = index === 0 ? 'absent' : `at index ${index}`
    throw new ConflictError(
      `app/${app} was changed concurrently (${key} is no longer ${was}); nothing was written. Check it with 'leanctl get ${app}' and apply again`,
    )
  }
  ctx.io.out(`app/${app} ${current ? 'configured' : 'created'}\n`)
  return 0
}
