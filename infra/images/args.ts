// Command-line arguments of `npm run build:images -- ...`.

export const IMAGE_NAMES = ['tiny', 'debian'] as const
export type ImageName = (typeof IMAGE_NAMES)[number]

export interface BuildArgs {
  /** Images to build, in this order. */
  readonly images: readonly ImageName[]
  /** Boot each image under QEMU and check it answers. */
  readonly verify: boolean
  /** Never upload, even when the cloud is up. */
  readonly upload: boolean
  /** Build even when the cache holds an image built from the same inputs. */
  readonly rebuild: boolean
  /** Resolve the tiny image's Debian packages again and rewrite infra/images/pins.json. */
  readonly updatePins: boolean
  readonly help: boolean
}

export const USAGE = `usage: npm run build:images -- [tiny] [debian] [all] [--verify] [--no-upload] [--rebuild] [--update-pins]

  tiny           the tiny image: Debian's cloud kernel + a busybox initramfs (the default)
  debian         a Debian 12 disk with cloud-init (qcow2; ~2-5 minutes)
  all            both
  --verify       boot each image under QEMU (TCG) and check its HTTP page (tiny) or ssh port (debian)
  --no-upload    do not upload to S3 even when the local cloud is up
  --rebuild      ignore the build cache
  --update-pins  resolve the newest Debian package versions again (infra/images/pins.json)`

export function parseArgs(argv: readonly string[]): BuildArgs {
  const images = new Set<ImageName>()
  const flags = { verify: false, upload: true, rebuild: false, updatePins: false, help: false }
  for (const arg of argv) {
    switch (arg) {
      case 'tiny':
      case 'debian':
        images.add(arg)
        break
      case 'all':
        for (const name of IMAGE_NAMES) images.add(name)
        break
      case '--verify':
        flags.verify = true
        break
      case '--no-upload':
        flags.upload = false
        break
      case '--rebuild':
        flags.rebuild = true
        break
      case '--update-pins':
        flags.updatePins = true
        break
      case '-h':
      case '--help':
        flags.help = true
        break
      default:
        throw new Error(`unknown argument '${arg}'\n${USAGE}`)
    }
  }
  // Keep a stable order whatever the command line's: the tiny image first, it is quick.
  const chosen = IMAGE_NAMES.filter((n) => images.has(n))
  return { images: chosen.length ? chosen : ['tiny'], ...flags }
}
