// Making a key and a certificate with Debian's openssl, for infra/cloud/tls.ts.
import { execFile } from 'node:child_process'
import { chmod, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { CloudError } from './errors.ts'
import { readTextIfExists } from './files.ts'

const run = promisify(execFile)

/** A certificate file and its key file. */
export interface CertFiles {
  readonly cert: string
  readonly key: string
}

function opensslConfig(commonName: string, extensions: readonly string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'O = Lean Cloud',
    `CN = ${commonName}`,
    '[ext]',
    ...extensions,
    '',
  ].join('\n')
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args)
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    const why =
      e.code === 'ENOENT'
        ? 'openssl is not installed (infra/prerequisites.sh installs it)'
        : (e.stderr ?? e.message).trim()
    throw new CloudError('LEAN_ERR_CLOUD_START', `could not make the cloud's TLS certificates: ${why}`)
  }
}

/**
 * Makes a key and a certificate (self-signed when `signer` is undefined) in
 * `scratch`, then moves them to `files.cert` and `files.key` (key mode 0600).
 */
export async function makeCert(
  scratch: string,
  files: CertFiles,
  commonName: string,
  extensions: readonly string[],
  days: number,
  signer?: CertFiles,
): Promise<void> {
  const name = path.basename(files.cert, '.pem')
  const cnf = path.join(scratch, `${name}.cnf`)
  const cert = path.join(scratch, `${name}.pem`)
  const key = path.join(scratch, `${name}-key.pem`)
  await writeFile(cnf, opensslConfig(commonName, extensions))
  // `req -x509 -CA` (OpenSSL 3) makes and signs in one step, with a random serial.
  await openssl([
    'req',
    '-x509',
    '-new',
    '-config',
    cnf,
    '-extensions',
    'ext',
    '-days',
    String(days),
    '-sha256',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-noenc',
    '-keyout',
    key,
    '-out',
    cert,
    ...(signer ? ['-CA', signer.cert, '-CAkey', signer.key] : []),
  ])
  await chmod(key, 0o600)
  await chmod(cert, 0o644)
  await rename(key, files.key)
  await rename(cert, files.cert)
}

export async function readPair(files: CertFiles) {
  return { cert: await readTextIfExists(files.cert), key: await readTextIfExists(files.key) }
}
