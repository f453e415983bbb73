// leanctl as an operator runs it against a test's own controller service:
// its own process, the operator's token (from the cloud's env), and that
// controller's address and KV prefixes.
import { runProjectCommand, type CommandRun } from './project-command.ts'

export function operatorLeanctl(
  env: Record<string, string | undefined>,
  controllerUrl: string,
  prefixes: { readonly appsPrefix: string; readonly statusPrefix: string },
): (...args: string[]) => Promise<CommandRun> {
  const commandEnv = {
    ...env,
    PATH: process.env.PATH,
    LEAN_CONTROLLER_ADDR: controllerUrl.replace(/^http:\/\//, ''),
    LEAN_APPS_PREFIX: prefixes.appsPrefix,
    LEAN_STATUS_PREFIX: prefixes.statusPrefix,
  }
  // `leanctl wait` may follow a deploy for minutes.
  return (...args) => runProjectCommand('cli/leanctl.ts', args, commandEnv, 10 * 60_000)
}
