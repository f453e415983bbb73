// leanctl's command line: the usage text, and argv turned into one typed
// command (node:util parseArgs per command). Throws UsageError.
import path from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { fieldValue, parseDuration as parseUnitDuration } from '../ground/units.ts'
import { APP_NAME } from '../jobs/app-spec.ts'
import { DOCUMENT_EXTENSIONS } from './documents.ts'
import { UsageError } from './errors.ts'

export const USAGE = `leanctl: manage Lean Cloud apps (their documents in Consul KV, their status)

Usage:
  leanctl apply -f <file.json|file.yaml|-> [--name <app>]   create or update an app (a component
                                                           file it names is pushed first)
  leanctl validate -f <file.json|file.yaml|-> [--name <app>]
                                                           check a document locally with the
                                                           controller's validator; writes nothing
  leanctl get <app> [-o json|yaml]                         the stored document and its status
  leanctl status [app]                                     a table of the apps and their phases
  leanctl delete <app>                                     delete an app (the controller stops its job)
  leanctl wait <app> [--for running] [--timeout 5m]        block until the app runs, or fails

VMs, images and components, through the controller's HTTP API (LEAN_CONTROLLER_ADDR):
  leanctl vm list [-o table|json|yaml]                     the vm apps: state, phase, image
  leanctl vm get <vm> [-o text|json|yaml]                  spec, status, allocations, ports, console
  leanctl vm apply <file.json|file.yaml|-> [--name <vm>]   create or replace a vm (kind may be left out)
  leanctl vm start|stop <vm>                               set the vm's desired state
  leanctl vm delete <vm>                                   delete the vm (the controller stops it)
  leanctl image list [-o table|json|yaml]                  the images in S3
  leanctl image upload <manifest.json>                     the files it names (<sha256>.<ext> beside
                                                           it), then the manifest, each by digest
  leanctl component push <file.wasm>                       check a component locally, upload it by
                                                           digest; prints a document (stdout) to apply

App names (apply, validate): --name <app> if given, otherwise the file's name without its
extension: "leanctl apply -f pdf.yaml" applies app "pdf". Reading stdin (-f -) needs --name.
Documents carry no name field; an app is stored as JSON under <LEAN_APPS_PREFIX><app>.
Names are lower-case letters, digits and dashes, starting with a letter (at most 63).
A .json file is read as JSON, .yaml/.yml as YAML; stdin as JSON if it starts with { or [, else YAML.
A wasm-service document may name its component as component: { file: ./x.wasm } (relative to the
document): apply checks and pushes it (unless the controller has it), then stores its sha256.
For editors, the documents' JSON Schema (draft 2020-12, both kinds) is generated from the same
validator: generated/schema/app-document.schema.json in the repository, or GET /v1/schema from the
controller (no token). validate also checks the rules no schema can state (the app's name, sizes
and durations, rules between fields).

Environment: CONSUL_HTTP_ADDR (default http://127.0.0.1:8500), CONSUL_HTTP_TOKEN,
  CONSUL_CACERT or CONSUL_CAPATH (the CA of an HTTPS Consul), CONSUL_HTTP_SSL,
  LEAN_APPS_PREFIX (default lean-cloud/apps/), LEAN_STATUS_PREFIX (default lean-cloud/status/),
  LEAN_CONTROLLER_ADDR (default http://127.0.0.1:4680; vm, image and component commands, and apply
  with a component file).

Exit codes: 0 done; 1 failed (Consul or controller error, no such app, changed concurrently, an
  app of another kind, wait saw the app failed or invalid); 2 usage error, invalid document, or a
  component file the engine could not run; 124 wait timed out.
`

export type Command =
  | { readonly name: 'help' }
  | ApiCommand
  | { readonly name: 'apply'; readonly file: string; readonly app: string }
  | { readonly name: 'validate'; readonly file: string; readonly app: string }
  | { readonly name: 'get'; readonly app: string; readonly output: 'json' | 'yaml' }
  | { readonly name: 'status'; readonly app?: string }
  | { readonly name: 'delete'; readonly app: string }
  | {
      readonly name: 'wait'
      readonly app: string
      readonly for: 'running'
      readonly timeout: { readonly ms: number; readonly text: string }
    }

/** Commands that talk to the controller's HTTP API only. */
export type ApiCommand =
  | { readonly name: 'vm-list'; readonly output: 'table' | 'json' | 'yaml' }
  | { readonly name: 'vm-get'; readonly vm: string; readonly output: 'text' | 'json' | 'yaml' }
  | { readonly name: 'vm-apply'; readonly file: string; readonly vm: string }
  | { readonly name: 'vm-start' | 'vm-stop' | 'vm-delete'; readonly vm: string }
  | { readonly name: 'image-list'; readonly output: 'table' | 'json' | 'yaml' }
  | { readonly name: 'image-upload'; readonly file: string }
  | { readonly name: 'component-push'; readonly file: string }

const DEFAULT_TIMEOUT = '5m'
const MAX_TIMEOUT_MS = 24 * 3600_000

/** Go-style durations as Consul and Nomad take them (ground/units.ts): `90s`, `5m`, `1h30m`, `500ms`. */
export function parseDuration(text: string): number {
  const ms = fieldValue(
    '--timeout',
    () => parseUnitDuration(text),
    (field, reason) => {
      throw new UsageError(`${field}: ${reason}`)
    },
  )
  if (ms > MAX_TIMEOUT_MS)
    throw new UsageError(`--timeout: expected more than 0 and at most 24h, got '${text}'`)
  return ms
}

export function checkAppName(app: string, where: string): string {
  if (!APP_NAME.test(app)) {
    throw new UsageError(
      `${where}: '${app}' is not an app name (lower-case letters, digits and dashes, starting with a letter, at most 63)`,
    )
  }
  return app
}

/** The rule for apply and validate: --name wins, else the file's name without its extension; stdin needs --name. */
export function appNameFor(file: string, name: string | undefined): string {
  if (file !== '-' && !(path.extname(file).toLowerCase() in DOCUMENT_EXTENSIONS))
    throw new UsageError(`-f: expected a .json, .yaml or .yml file or - (stdin), got '${file}'`)
  if (name !== undefined) return checkAppName(name, '--name')
  if (file === '-') throw new UsageError('--name <app> is required when the document comes from stdin (-f -)')
  return checkAppName(
    path.basename(file, path.extname(file)),
    `the app name from the file name ${file} (or pass --name)`,
  )
}

type Options = NonNullable<ParseArgsConfig['options']>

function parse(
  command: string,
  args: string[],
  options: Options,
  positionals: { min: number; max: number; names: string },
) {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    // parseArgs explains how to pass values starting with '-'; the first sentence is the problem.
    throw new UsageError(`${command}: ${(err as Error).message.split('. ')[0]}`)
  }
  const n = parsed.positionals.length
  if (!parsed.values.help && (n < positionals.min || n > positionals.max)) {
    const extra =
      n > positionals.max
        ? `unexpected argument '${parsed.positionals[positionals.max]}'`
        : `missing ${positionals.names}`
    throw new UsageError(`${command}: ${extra}`)
  }
  return {
    values: parsed.values as Record<string, string | boolean | undefined>,
    positionals: parsed.positionals,
    help: parsed.values.help === true,
  }
}

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined)

export function parseCommandLine(argv: readonly string[]): Command {
  const [command, ...rest] = argv
  if (command === undefined) throw new UsageError('no command given', { showUsage: true })
  if (command === '-h' || command === '--help' || command === 'help') return { name: 'help' }
  switch (command) {
    case 'apply':
    case 'validate': {
      const p = parse(
        command,
        rest,
        { file: { type: 'string', short: 'f' }, name: { type: 'string' } },
        { min: 0, max: 0, names: '' },
      )
      if (p.help) return { name: 'help' }
      const file = str(p.values.file)
      if (file === undefined) throw new UsageError(`${command}: -f <file.json|file.yaml|-> is required`)
      return { name: command, file, app: appNameFor(file, str(p.values.name)) }
    }
    case 'get': {
      const p = parse(
        command,
        rest,
        { output: { type: 'string', short: 'o', default: 'json' } },
        { min: 1, max: 1, names: '<app>' },
      )
      if (p.help) return { name: 'help' }
      const output = str(p.values.output)
      if (output !== 'json' && output !== 'yaml')
        throw new UsageError(`get: -o: expected json or yaml, got '${output}'`)
      return { name: 'get', app: checkAppName(p.positionals[0]!, 'get'), output }
    }
    case 'status': {
      const p = parse(command, rest, {}, { min: 0, max: 1, names: '' })
      if (p.help) return { name: 'help' }
      const app = p.positionals[0]
      return app === undefined ? { name: 'status' } : { name: 'status', app: checkAppName(app, 'status') }
    }
    case 'delete': {
      const p = parse(command, rest, {}, { min: 1, max: 1, names: '<app>' })
      if (p.help) return { name: 'help' }
      return { name: 'delete', app: checkAppName(p.positionals[0]!, 'delete') }
    }
    case 'wait': {
      const options: Options = {
        for: { type: 'string', default: 'running' },
        timeout: { type: 'string', default: DEFAULT_TIMEOUT },
      }
      const p = parse(command, rest, options, { min: 1, max: 1, names: '<app>' })
      if (p.help) return { name: 'help' }
      // Only one condition so far; the option keeps scripts forward-compatible.
      if (p.values.for !== 'running')
        throw new UsageError(`wait: --for: expected running, got '${str(p.values.for)}'`)
      const timeout = str(p.values.timeout)!
      return {
        name: 'wait',
        app: checkAppName(p.positionals[0]!, 'wait'),
        for: 'running',
        timeout: { ms: parseDuration(timeout), text: timeout },
      }
    }
    case 'vm':
    case 'image':
    case 'component':
      return parseSubcommand(`${command} ${rest[0] ?? ''}`.trim(), rest.slice(1))
    default:
      throw new UsageError(`unknown command '${command}'`, { showUsage: true })
  }
}

function output<T extends string>(
  command: string,
  value: string | boolean | undefined,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T))
    throw new UsageError(`${command}: -o: expected ${allowed.join(', ')}, got '${str(value)}'`)
  return value as T
}

/** `vm <sub>`, `image <sub>` and `component <sub>`: the controller API's commands. */
function parseSubcommand(command: string, args: string[]): Command {
  const one = (what: string) => {
    const p = parse(command, args, {}, { min: 1, max: 1, names: what })
    return { help: p.help, arg: p.positionals[0]! }
  }
  switch (command) {
    case 'vm list':
    case 'image list': {
      const p = parse(
        command,
        args,
        { output: { type: 'string', short: 'o', default: 'table' } },
        { min: 0, max: 0, names: '' },
      )
      if (p.help) return { name: 'help' }
      return {
        name: command === 'vm list' ? 'vm-list' : 'image-list',
        output: output(command, p.values.output, ['table', 'json', 'yaml'] as const),
      }
    }
    case 'vm get': {
      const p = parse(
        command,
        args,
        { output: { type: 'string', short: 'o', default: 'text' } },
        { min: 1, max: 1, names: '<vm>' },
      )
      if (p.help) return { name: 'help' }
      return {
        name: 'vm-get',
        vm: checkAppName(p.positionals[0]!, command),
        output: output(command, p.values.output, ['text', 'json', 'yaml'] as const),
      }
    }
    case 'vm apply': {
      // The file as an argument, or with -f as for `leanctl apply`.
      const p = parse(
        command,
        args,
        { file: { type: 'string', short: 'f' }, name: { type: 'string' } },
        { min: 0, max: 1, names: '' },
      )
      if (p.help) return { name: 'help' }
      const file = str(p.values.file) ?? p.positionals[0]
      if (file === undefined || (p.values.file !== undefined && p.positionals.length > 0))
        throw new UsageError(`${command}: expected one file: <file.json|file.yaml|-> or -f <file>`)
      return { name: 'vm-apply', file, vm: appNameFor(file, str(p.values.name)) }
    }
    case 'vm start':
    case 'vm stop':
    case 'vm delete': {
      const { help, arg } = one('<vm>')
      if (help) return { name: 'help' }
      return {
        name: command === 'vm start' ? 'vm-start' : command === 'vm stop' ? 'vm-stop' : 'vm-delete',
        vm: checkAppName(arg, command),
      }
    }
    case 'image upload': {
      const { help, arg } = one('<manifest.json>')
      if (help) return { name: 'help' }
      if (!arg.endsWith('.json'))
        throw new UsageError(`${command}: expected an image manifest (<sha256>.json), got '${arg}'`)
      return { name: 'image-upload', file: arg }
    }
    case 'component push': {
      const { help, arg } = one('<file.wasm>')
      if (help) return { name: 'help' }
      if (!arg.endsWith('.wasm'))
        throw new UsageError(`${command}: expected a component (<file>.wasm), got '${arg}'`)
      return { name: 'component-push', file: arg }
    }
    default: {
      const kind = command.split(' ')[0]
      const subs =
        kind === 'vm' ? 'list, get, apply, start, stop, delete' : kind === 'image' ? 'list, upload' : 'push'
      throw new UsageError(
        `${kind}: ${command === kind ? 'missing' : `unknown command '${command.slice(kind!.length + 1)}'; expected one of`} ${subs}`,
      )
    }
  }
}
