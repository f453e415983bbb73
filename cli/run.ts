// leanctl as a function: argv and environment in, exit code out. Parses the
// command line, reads the configuration once, runs the command, and turns
// every error into one line on stderr and its exit code.
import { trustCaCerts } from '../controller/ca-trust.ts'
import { ControllerConfigError } from '../controller/config.ts'
import { ConsulKv } from '../controller/consul-kv.ts'
import { refusal } from '../controller/token-check.ts'
import { SpecError } from '../jobs/app-spec.ts'
import type { Kv } from './apps.ts'
import { parseCommandLine, USAGE, type ApiCommand, type Command } from './args.ts'
import { apply } from './commands/apply.ts'
import { componentPush } from './commands/component.ts'
import { deleteApp } from './commands/delete.ts'
import { get } from './commands/get.ts'
import { imageList, imageUpload } from './commands/image.ts'
import { status } from './commands/status.ts'
import { validate } from './commands/validate.ts'
import { vmApply, vmDelete, vmGet, vmList, vmSetState, type ApiContext } from './commands/vm.ts'
import { waitForApp } from './commands/wait.ts'
import { loadCliConfig, type CliConfig } from './config.ts'
import { ControllerClient, type Fetch } from './controller-client.ts'
import type { Context, Io } from './context.ts'
import { CliError, UsageError } from './errors.ts'

export type KvFactory = (config: CliConfig) => Kv

const consulKv: KvFactory = (config) => new ConsulKv(config.consulAddr, config.consulToken)

type ConsulCommand = Exclude<Command, ApiCommand | { name: 'help' | 'validate' }>

const isApiCommand = (c: Command): c is ApiCommand => /^(vm|image|component)-/.test(c.name)

function runApiCommand(ctx: ApiContext, command: ApiCommand): Promise<number> {
  switch (command.name) {
    case 'vm-list':
      return vmList(ctx, command.output)
    case 'vm-get':
      return vmGet(ctx, command.vm, command.output)
    case 'vm-apply':
      return vmApply(ctx, command.file, command.vm)
    case 'vm-start':
      return vmSetState(ctx, command.vm, 'start')
    case 'vm-stop':
      return vmSetState(ctx, command.vm, 'stop')
    case 'vm-delete':
      return vmDelete(ctx, command.vm)
    case 'image-list':
      return imageList(ctx, command.output)
    case 'image-upload':
      return imageUpload(ctx, command.file)
    case 'component-push':
      return componentPush(ctx, command.file)
  }
}

function runCommand(ctx: Context, command: ConsulCommand): Promise<number> {
  switch (command.name) {
    case 'apply':
      return apply(ctx, command.file, command.app)
    case 'get':
      return get(ctx, command.app, command.output)
    case 'status':
      return status(ctx, command.app)
    case 'delete':
      return deleteApp(ctx, command.app)
    case 'wait':
      return waitForApp(ctx, command.app, command.timeout)
  }
}

async function withConsul(
  command: ConsulCommand,
  env: Record<string, string | undefined>,
  io: Io,
  makeKv: KvFactory,
  fetchFn: Fetch,
): Promise<number> {
  const config = loadCliConfig(env)
  trustCaCerts(config.caCerts ?? [])
  const controller = new ControllerClient(config.controllerAddr, fetchFn, config.consulToken)
  try {
    return await runCommand({ config, kv: makeKv(config), controller, io }, command)
  } catch (err) {
    // Anything else comes from talking to Consul (refused, ACL denied, ...): say which Consul, and which token.
    if (!(err instanceof CliError || err instanceof SpecError) && err instanceof Error) {
      if (/ACL not found|Permission denied|\b403\b/i.test(err.message))
        err.message = refusal('CONSUL_HTTP_TOKEN', 'Consul', config.consulAddr, Boolean(env.CONSUL_HTTP_TOKEN), err.message)
      else err.message += ` (CONSUL_HTTP_ADDR=${config.consulAddr})`
    }
    throw err
  }
}

export async function run(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: Io,
  makeKv: KvFactory = consulKv,
  fetchFn: Fetch = fetch,
): Promise<number> {
  try {
    const command = parseCommandLine(argv)
    if (command.name === 'help') {
      io.out(USAGE)
      return 0
    }
    // validate needs no Consul, so no Consul settings either.
    if (command.name === 'validate') return await validate(io, command.file, command.app)
    // The VM API and uploads need Nomad and S3 as well as Consul: these talk to the controller.
    if (isApiCommand(command)) {
      const config = loadCliConfig(env)
      return await runApiCommand({ controller: new ControllerClient(config.controllerAddr, fetchFn, config.consulToken), io }, command)
    }
    return await withConsul(command, env, io, makeKv, fetchFn)
  } catch (err) {
    if (err instanceof SpecError) {
      io.err(`invalid ${err.field}: ${err.reason}\n`)
      return 2
    }
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n${err.showUsage ? `\n${USAGE}` : "Run 'leanctl --help' for usage.\n"}`)
      return 2
    }
    if (err instanceof CliError) {
      io.err(`error: ${err.message}\n`)
      return err.exitCode
    }
    if (err instanceof ControllerConfigError) {
      io.err(`error: ${err.message}\n`)
      return 2
    }
    io.err(`error: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}
