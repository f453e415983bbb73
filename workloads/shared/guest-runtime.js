// What both components build on their first request: the task's environment
// and a capability client. Not at module load: the module is pre-initialised
// at build time, when the task's environment does not exist yet.
import { getEnvironment } from 'wasi:cli/environment@0.2.12'
import { capabilityClient } from './capability-client.ts'

/** Returns a getter that runs `build({ env, caps })` once, on first use, and keeps its result. */
export function lazyRuntime(build) {
  let runtime
  return () => {
    if (!runtime) {
      const vars = new Map(getEnvironment())
      const env = (name) => vars.get(name)
      runtime = build({ env, caps: capabilityClient(env) })
    }
    return runtime
  }
}
