// `npm run example:opentofu`: declares the demo's lean cloud with OpenTofu
// (examples/opentofu) on the local cloud `npm run cloud:up` runs: builds the
// components and the tiny VM image (cached), starts the controller as the
// demo does, plans and applies with the lean provider, and prints what it
// made. `npm run example:opentofu -- destroy` removes it again. Its state
// lives in the cloud's data dir (<data dir>/opentofu/terraform.tfstate).
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { trustCaCertsFromEnv } from '../../controller/ca-trust.ts'
import { ingressUrl } from '../../jobs/ingress.ts'
import { buildComponentIfChanged, sharedGuestCode } from '../../workloads/build-component.ts'
import { layout, loadConfig } from '../cloud/config.ts'
import { ensureController } from '../cloud/controller-daemon.ts'
import { readEnvFile } from '../cloud/credentials.ts'
import { imagePaths } from '../images/paths.ts'
import { buildTiny } from '../images/tiny.ts'
import { OpenTofuError, openTofuBinaries, tofu, writeCliConfig, type Run } from './tofu.ts'

const example = fileURLToPath(new URL('../../examples/opentofu/', import.meta.url))
const started = Date.now()
const progress = (m: string) =>
  process.stderr.write(`[opentofu ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${m}\n`)

interface AppOutput {
  readonly phase: string
  readonly healthy: string
  readonly addresses: readonly string[]
}

function checked(step: string, run: Run): Run {
  if (run.code !== 0)
    throw new OpenTofuError(`tofu ${step} failed (exit ${run.code}): ${run.stderr.trim().slice(-3000)}`)
  return run
}

async function main(destroy: boolean): Promise<void> {
  const config = loadConfig()
  const envFile = layout(config).envFile
  const env = await readEnvFile(envFile)
  if (env === undefined)
    throw new OpenTofuError(`no ${envFile}: bring the local cloud up first (npm run cloud:up)`)
  trustCaCertsFromEnv(env)
  const binaries = await openTofuBinaries(progress)
  const work = path.join(config.dataDir, 'opentofu')
  await mkdir(work, { recursive: true })
  const cli = await writeCliConfig(work, binaries.provider)
  const state = `-state=${path.join(work, 'terraform.tfstate')}`
  const controller = await ensureController(config, env, progress)
  // The cloud's variables (the operator's CONSUL_HTTP_TOKEN, CONSUL_CACERT) and the controller's address.
  const shell = { ...process.env, ...env, LEAN_CONTROLLER_ADDR: controller.url }
  const show = { onStdout: (line: string) => process.stderr.write(`  ${line}\n`) }
  const run = (step: string, ...args: string[]) =>
    tofu(binaries, cli, example, [step, '-no-color', ...args], shell, show).then((r) => checked(step, r))
  progress(
    'init: skipped; the provider comes from the build cache through dev_overrides, where OpenTofu says to skip init (it would look the provider up in its registry)',
  )

  // Destroy plans with the configuration too, so it needs the same files (cached builds: seconds).
  const components: Record<string, string> = {}
  for (const name of ['pdf', 'email'] as const) {
    progress(`${name}: building the component (cached when its sources are unchanged)`)
    components[name] = (await buildComponentIfChanged(name, undefined, [sharedGuestCode])).file
  }
  progress('tiny VM image: building (cached when its inputs are unchanged)')
  const tiny = await buildTiny(imagePaths(), { rebuild: false, updatePins: false })
  const vars = [
    ...['-var', `pdf_wasm=${components.pdf}`],
    ...['-var', `email_wasm=${components.email}`],
    ...['-var', `tiny_image_manifest=${tiny.manifestFile}`],
  ]
  if (destroy) {
    await run('destroy', state, '-auto-approve', ...vars)
    progress(
      'destroyed: the apps are gone from Consul KV and the controller stops their jobs (components and images stay in S3)',
    )
    return
  }
  const plan = path.join(work, 'example.tfplan')
  progress(`plan (state ${state.slice('-state='.length)})`)
  await run('plan', state, `-out=${plan}`, ...vars)
  progress('apply: waits until every app runs')
  await run('apply', state, plan)
  const out = await tofu(binaries, cli, example, ['output', state, '-json', 'apps'], shell).then((r) =>
    checked('output', r),
  )
  const apps = JSON.parse(out.stdout) as Record<string, AppOutput>
  const ingressPort = Number(env.INGRESS_ADDR?.split(':').pop() ?? 8088)
  const lines = Object.entries(apps).map(
    ([name, a]) =>
      `  ${name.padEnd(9)} ${a.phase.padEnd(9)} healthy ${a.healthy.padEnd(5)} ${a.addresses.join(' ')}`,
  )
  process.stdout.write(
    [
      '',
      'OpenTofu declared the demo cloud (examples/opentofu):',
      ...lines,
      '',
      `  PDF service   curl -s -H 'content-type: application/json' -d '{"text":"Hello"}' ${ingressUrl('pdf', ingressPort)}`,
      `  VM            curl -s ${ingressUrl('hello-vm', ingressPort)}`,
      `  Remove it     npm run example:opentofu -- destroy`,
      '',
    ].join('\n'),
  )
}

const args = process.argv.slice(2)
if (args.some((a) => a !== 'destroy')) {
  process.stderr.write('usage: npm run example:opentofu [-- destroy]\n')
  process.exitCode = 2
} else {
  try {
    await main(args.includes('destroy'))
  } catch (err) {
    progress(`failed: ${(err as Error).message}`)
    process.exitCode = 1
  }
}
