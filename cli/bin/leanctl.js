#!/usr/bin/env node
// The `leanctl` executable (package.json's bin): loads the TypeScript sources
// through tsx, resolved from this package wherever the command runs from.
import { register } from 'tsx/esm/api'

register()
await import('../leanctl.ts')
