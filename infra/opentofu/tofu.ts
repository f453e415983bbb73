// Running OpenTofu with our `lean` provider, for examples/opentofu and its
// integration test: both binaries from build-binaries.sh's cache (built once,
// niced), a CLI configuration whose dev_overrides point OpenTofu at the built
// provider, and `tofu` runs with their output kept. OpenTofu itself says to
// skip `tofu init` under dev_overrides (it would look the provider up in its
// registry, which this machine cannot reach, and nothing else needs
// installing), so plan and apply run straight away.
import { spawn } from 'node:child_process'
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../../', import.meta.url))

/** The provider's source address, as configurations name it (provider/main.go). */
export const PROVIDER_SOURCE = 'lean-cloud/lean'

export interface OpenTofuBinaries {
  readonly tofu: string
  readonly provider: string
}

export class OpenTofuError extends Error {
  readonly code = 'LEAN_ERR_OPENTOFU' as const
}

/** Builds (or finds in the cache) OpenTofu and the provider; `progress` gets the build's own lines. */
export async function openTofuBinaries(
  progress: (line: string) => void = () => {},
): Promise<OpenTofuBinaries> {
  const script = path.join(repo, 'infra', 'build-binaries.sh')
  const out = await run('bash', [script, 'opentofu', 'lean-provider'], { cwd: repo, onStderr: progress })
  const found = new Map(
    out.stdout
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string?])
      .filter((kv): kv is [string, string] => kv[1] !== undefined),
  )
  const tofu = found.get('opentofu')
  const provider = found.get('lean-provider')
  if (out.code !== 0 || !tofu || !provider)
    throw new OpenTofuError(
      `build-binaries.sh opentofu lean-provider failed (exit ${out.code}): ${out.stderr.trim().slice(-2000)}`,
    )
  return { tofu, provider }
}

/**
 * Writes `<dir>/cli.tfrc`, whose dev_overrides take the provider from
 * `<dir>/plugins/terraform-provider-lean` (a link to the built binary).
 * Returns the file, for TF_CLI_CONFIG_FILE.
 */
export async function writeCliConfig(dir: string, provider: string): Promise<string> {
  const plugins = path.join(dir, 'plugins')
  await mkdir(plugins, { recursive: true })
  const link = path.join(plugins, 'terraform-provider-lean')
  await rm(link, { force: true })
  await symlink(provider, link)
  const file = path.join(dir, 'cli.tfrc')
  await writeFile(
    file,
    [
      '# Written by infra/opentofu/tofu.ts: OpenTofu takes the lean provider from the build cache.',
      'provider_installation {',
      '  dev_overrides {',
      `    ${JSON.stringify(PROVIDER_SOURCE)} = ${JSON.stringify(plugins)}`,
      '  }',
      '  direct {}',
      '}',
      '',
    ].join('\n'),
  )
  return file
}

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

interface RunOptions {
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
  /** Each line of output as it comes (the output is kept either way). */
  readonly onStdout?: (line: string) => void
  readonly onStderr?: (line: string) => void
  /** Ends the command (SIGTERM, then SIGKILL) after this long; its output so far says where it was. */
  readonly timeoutMs?: number
}

function run(command: string, args: readonly string[], options: RunOptions): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const kept = { stdout: '', stderr: '' }
    for (const stream of ['stdout', 'stderr'] as const) {
      const each = stream === 'stdout' ? options.onStdout : options.onStderr
      let partial = ''
      child[stream].setEncoding('utf8').on('data', (chunk: string) => {
        kept[stream] += chunk
        if (!each) return
        partial += chunk
        const lines = partial.split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) each(line)
      })
    }
    let timedOut = false
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            child.kill('SIGTERM')
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref()
          }, options.timeoutMs)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      const note = timedOut ? `\n${command} ${args[0] ?? ''}: ended after ${options.timeoutMs} ms\n` : ''
      resolve({ code: code ?? 1, stdout: kept.stdout, stderr: kept.stderr + note })
    })
  })
}

/** Runs `tofu <args>` in `dir` with the CLI configuration and `env`; never throws for a non-zero exit. */
export function tofu(
  binaries: OpenTofuBinaries,
  cliConfig: string,
  dir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: Pick<RunOptions, 'onStdout' | 'onStderr' | 'timeoutMs'> = {},
): Promise<Run> {
  return run(binaries.tofu, args, {
    cwd: dir,
    env: {
      ...env,
      TF_CLI_CONFIG_FILE: cliConfig,
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      CHECKPOINT_DISABLE: '1',
    },
    ...options,
  })
}
