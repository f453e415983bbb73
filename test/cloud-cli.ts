// `npm run test:cloud -- up|down|status`: the cloud commands, aimed at the
// tests' own cloud instead of the user's.
import { applyTestCloudEnv } from './harness/test-cloud-env.ts'

applyTestCloudEnv()
await import('../infra/cloud/cli.ts')
