// Runs the shared prerequisites step (infra/prerequisites.sh): the Debian
// packages the cloud needs, installed when missing, with one line saying which.
import { spawn } from 'node:child_process'
import path from 'node:path'
import type { CloudConfig } from './config.ts'
import { CloudError } from './errors.ts'

export async function ensurePrerequisites(config: CloudConfig): Promise<void> {
  const script = path.join(config.repoDir, 'infra', 'prerequisites.sh')
  // Its own lines go straight to our stderr: they are the progress a user sees.
  const child = spawn('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'] })
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('close', resolve))
  if (code !== 0) {
    throw new CloudError('LEAN_ERR_CLOUD_PREREQUISITES', 'the Debian packages the cloud needs are not all installed (see the lines above)')
  }
}
