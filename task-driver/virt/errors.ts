// Errors of the libvirt layer under the `virt` driver. Each has a stable code,
// so the driver can map it to a task event and callers can tell failures apart
// without matching message text; the message names the command and what the
// tool said.
export type VirtErrorCode =
  | 'LEAN_ERR_VIRT_NOT_INSTALLED'
  | 'LEAN_ERR_VIRT_CONNECT'
  | 'LEAN_ERR_VIRT_TIMEOUT'
  | 'LEAN_ERR_VIRT_NO_DOMAIN'
  | 'LEAN_ERR_VIRT_DOMAIN_EXISTS'
  | 'LEAN_ERR_VIRT_PORT_IN_USE'
  | 'LEAN_ERR_VIRT_COMMAND'
  | 'LEAN_ERR_VIRT_SPEC'
  | 'LEAN_ERR_VIRT_BOOT'
  | 'LEAN_ERR_VIRT_DISK'
  | 'LEAN_ERR_VIRT_CONFIG'
  | 'LEAN_ERR_VIRT_IMAGE'
  | 'LEAN_ERR_VIRT_IMAGE_DIGEST'
  | 'LEAN_ERR_VIRT_IMAGE_PATH'
  | 'LEAN_ERR_VIRT_CONFINE'

export class VirtError extends Error {
  readonly code: VirtErrorCode
  /** The command that failed, as run (program and arguments), when one did. */
  readonly command: readonly string[] | undefined
  /** What the command wrote to stderr, trimmed. */
  readonly stderr: string
  /** Whether Nomad restarting the task can help (an S3 server that was down may be back; a bad digest never is). */
  readonly recoverable: boolean

  constructor(
    code: VirtErrorCode,
    message: string,
    options: { command?: readonly string[]; stderr?: string; cause?: unknown; recoverable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VirtError'
    this.code = code
    this.command = options.command
    this.stderr = options.stderr ?? ''
    this.recoverable = options.recoverable ?? false
  }
}

/** The Debian package that provides each program this layer runs, for "install it" hints. */
export const VIRT_TOOL_PACKAGES: Readonly<Record<string, string>> = {
  virsh: 'libvirt-clients',
  libvirtd: 'libvirt-daemon',
  'qemu-img': 'qemu-utils',
  'qemu-system-x86_64': 'qemu-system-x86',
  'cloud-localds': 'cloud-image-utils',
  unshare: 'util-linux',
}

export function notInstalled(tool: string, command?: readonly string[]): VirtError {
  const pkg = VIRT_TOOL_PACKAGES[tool]
  const hint = pkg ? `install the Debian package ${pkg} (\`bash infra/prerequisites.sh\` does)` : 'install it'
  return new VirtError(
    'LEAN_ERR_VIRT_NOT_INSTALLED',
    `${tool} is not installed: ${hint}`,
    command ? { command } : {},
  )
}
