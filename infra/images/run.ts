// Runs the external tools of the image build (apt-get, dpkg-deb, mmdebstrap,
// qemu-img, ...) without a shell, at the lowest CPU priority: image builds
// share two cores with everything else on these machines.
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { ImageError } from './errors.ts'

/** The Debian package that provides each tool we call, for the "install it" hint. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  'dpkg-query': 'dpkg',
  mmdebstrap: 'mmdebstrap',
  'mkfs.ext4': 'e2fsprogs',
  extlinux: 'extlinux',
  'qemu-img': 'qemu-utils',
  'qemu-system-x86_64': 'qemu-system-x86',
  'cloud-localds': 'cloud-image-utils',
  mount: 'mount',
  umount: 'mount',
  nice: 'coreutils',
}

export function missingToolMessage(tool: string): string {
  const pkg = TOOL_PACKAGES[tool]
  const hint = pkg
    ? `install the Debian package ${pkg} (\`bash infra/prerequisites.sh\` installs every package the images need)`
    : 'install it'
  return `${tool} is not installed: ${hint}`
}

export interface RunOptions {
  readonly cwd?: string
  /** Append stdout and stderr here instead of keeping them in memory (long, chatty tools). */
  readonly logFile?: string
  readonly env?: NodeJS.ProcessEnv
}

/** Runs `tool args` under `nice -n 19`; resolves with stdout, or throws naming the tool and its output's tail. */
export async function run(tool: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const child = spawn('nice', ['-n', '19', tool, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined
  child.stdout.on('data', (b: Buffer) => (log ? log.write(b) : out.push(b)))
  child.stderr.on('data', (b: Buffer) => (log ? log.write(b) : err.push(b)))
  const code = await new Promise<number | null>((resolve, reject) =>
    child.once('error', reject).once('close', resolve),
  )
  if (log) await new Promise<void>((resolve) => log.end(resolve))
  if (code === 0) return Buffer.concat(out).toString('utf8')
  // `nice` exits 127 when the tool itself cannot be found.
  if (code === 127) throw new ImageError(missingToolMessage(tool))
  const text = options.logFile
    ? await readFile(options.logFile, 'utf8').catch(() => '')
    : Buffer.concat(err).toString('utf8') + Buffer.concat(out).toString('utf8')
  const tail = text.trimEnd().split('\n').slice(-15).join('\n')
  const where = options.logFile ? ` (full log: ${options.logFile})` : ''
  throw new ImageError(
    `${tool} ${args.slice(0, 3).join(' ')}… failed with exit code ${code}${where}:\n${tail}`,
  )
}
