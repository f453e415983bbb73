// Entry point of leanctl, the operator CLI: `npm run leanctl -- <command>`, or
// `leanctl` through package.json's bin. See `leanctl --help`.
import { text } from 'node:stream/consumers'
import { run } from './run.ts'

process.exitCode = await run(process.argv.slice(2), process.env, {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readStdin: () => text(process.stdin),
})
