// Entry point of `npm run cluster:render|prepare|init` (docs/cluster.md, "Real servers").
//
//   cluster:render  -- --inventory FILE --out DIR [--probe-image <sha256>.json]
//   cluster:prepare -- --inventory /etc/lean-cloud/inventory.json --server NAME   (on that server, as root)
//   cluster:init    -- --inventory /etc/lean-cloud/inventory.json                 (once, on the services server)
import path from 'node:path'
import { probeImageManifest } from '../cloud/agents/nomad.ts'
import { ServersError } from './errors.ts'
import { readInventory } from './inventory.ts'
import { initCluster } from './init.ts'
import { planServers, serverPlan } from './plan.ts'
import { prepareServer } from './prepare.ts'
import { renderCluster } from './render.ts'

const USAGE = {
  render: 'cluster:render -- --inventory FILE --out DIR [--probe-image <sha256>.json]',
  prepare: 'cluster:prepare -- --inventory FILE --server NAME',
  init: 'cluster:init -- --inventory FILE',
} as const
type Command = keyof typeof USAGE

function progress(message: string): void {
  process.stderr.write(`[cluster] ${message}\n`)
}

/** `--name value` or `--name=value` options; each known name at most once, nothing else. */
function parseOptions(command: Command, args: readonly string[], known: readonly string[]): Record<string, string> {
  const options: Record<string, string> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    const name = match?.[1]
    if (!match || !name || !known.includes(name)) throw new ServersError('LEAN_ERR_SERVERS_USAGE', `unknown argument '${arg}'; usage: npm run ${USAGE[command]}`)
    const value = match[2] ?? args[++i]
    if (value === undefined || value === '') throw new ServersError('LEAN_ERR_SERVERS_USAGE', `--${name} needs a value; usage: npm run ${USAGE[command]}`)
    if (name in options) throw new ServersError('LEAN_ERR_SERVERS_USAGE', `--${name} is given twice`)
    options[name] = value
  }
  return options
}

function required(command: Command, options: Record<string, string>, name: string): string {
  const value = options[name]
  if (value === undefined) throw new ServersError('LEAN_ERR_SERVERS_USAGE', `--${name} is missing; usage: npm run ${USAGE[command]}`)
  return value
}

async function main(command: string | undefined, args: readonly string[]): Promise<void> {
  switch (command) {
    case 'render': {
      const options = parseOptions(command, args, ['inventory', 'out', 'probe-image'])
      const inventory = await readInventory(required(command, options, 'inventory'))
      const out = path.resolve(required(command, options, 'out'))
      // The tiny image's name is its digest: built here from the same pins as on the servers.
      const probeImage = options['probe-image'] ?? path.basename(await probeImageManifest())
      const result = await renderCluster(inventory, out, { probeImage })
      for (const { file, reason } of result.tls) progress(`TLS: made ${file} (${reason})`)
      for (const folder of result.folders) progress(`rendered ${folder} (see its JOIN.md)`)
      process.stdout.write(`${result.folders.map((f) => path.join(f, 'JOIN.md')).join('\n')}\n`)
      return
    }
    case 'prepare': {
      const options = parseOptions(command, args, ['inventory', 'server'])
      const plan = planServers(await readInventory(required(command, options, 'inventory')))
      const name = required(command, options, 'server')
      const server = serverPlan(plan, name)
      if (!server) throw new ServersError('LEAN_ERR_SERVERS_USAGE', `--server ${name}: the inventory has ${plan.servers.map((s) => s.server.name).join(', ')}`)
      await prepareServer(plan, server, progress)
      return
    }
    case 'init': {
      const options = parseOptions(command, args, ['inventory'])
      const plan = planServers(await readInventory(required(command, options, 'inventory')))
      const file = await initCluster(plan, progress)
      progress(`wrote ${file}; copy it to every other server's, then start lean-controller.service on each (JOIN.md, step 5)`)
      return
    }
    default:
      throw new ServersError('LEAN_ERR_SERVERS_USAGE', `usage: npm run ${Object.values(USAGE).join(' | ')}`)
  }
}

main(process.argv[2], process.argv.slice(3)).then(
  () => process.exit(0),
  (err: unknown) => {
    const code = err instanceof ServersError ? `${err.code}: ` : ''
    process.stderr.write(`\ncluster ${process.argv[2] ?? ''} failed: ${code}${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  },
)
