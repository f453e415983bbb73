// `leanctl get`: the stored document and the controller's status for one app, as JSON or YAML.
import { stringify } from 'yaml'
import type { Context } from '../context.ts'
import { NotFoundError } from '../errors.ts'

/** Stored values are shown parsed; one that is not JSON is shown as the text it is. */
function parsed(value: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

export async function get(ctx: Context, app: string, output: 'json' | 'yaml'): Promise<number> {
  const key = ctx.config.appsPrefix + app
  const [spec, status] = await Promise.all([ctx.kv.get(key), ctx.kv.get(ctx.config.statusPrefix + app)])
  if (!spec) throw new NotFoundError(`app/${app} not found (no key ${key})`)
  const doc = {
    name: app,
    modifyIndex: spec.modifyIndex,
    spec: parsed(spec.value),
    status: status ? parsed(status.value) : null,
  }
  ctx.io.out(output === 'yaml' ? stringify(doc) : `${JSON.stringify(doc, null, 2)}\n`)
  return 0
}
