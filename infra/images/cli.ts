// `npm run build:images -- [tiny] [debian] [all] [--verify] [--no-upload] [--rebuild] [--update-pins]`
//
// Builds the VM images (the tiny one by default), prints each one's digest
// and size, uploads it to s3://artifacts/images/ when the local cloud is up,
// and with --verify boots it under QEMU and checks that it answers.
// See infra/images/README.md for what an image is.
import { parseArgs, USAGE, type BuildArgs, type ImageName } from './args.ts'
import { buildDebian } from './debian.ts'
import { ImageError } from './errors.ts'
import { manifestFiles } from '../../ground/image-manifest.ts'
import { imagePaths, type ImagePaths } from './paths.ts'
import { storePath } from './store.ts'
import { buildTiny, type BuiltImage } from './tiny.ts'
import { verifyImage } from './verify.ts'

const BOOT_TIMEOUT_S: Record<ImageName, number> = { tiny: 120, debian: 600 }

const KEY_PACKAGES = /^(linux-image-\d.*|busybox-static|cloud-init|openssh-server|systemd|base-files)$/

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

async function build(name: ImageName, paths: ImagePaths, args: BuildArgs): Promise<BuiltImage> {
  return name === 'tiny' ? buildTiny(paths, args) : buildDebian(paths, args)
}

function describe(image: BuiltImage, paths: ImagePaths, ms: number): void {
  const total = manifestFiles(image.manifest).reduce((n, f) => n + f.size, 0)
  console.log(
    `${image.name}: sha256:${image.sha256}  ${mib(total)}  (${image.cached ? 'cached, ' : ''}${seconds(ms)})`,
  )
  console.log(`  manifest  ${image.manifestFile}`)
  for (const f of manifestFiles(image.manifest)) {
    const ext = f.key.slice(f.key.indexOf('.') + 1)
    console.log(`  ${ext.padEnd(9)} ${storePath(paths, f)}  ${mib(f.size)}`)
  }
  // The packages that say what the image is; the manifest lists them all.
  const main = image.manifest.packages.filter((p) => KEY_PACKAGES.test(p.name))
  for (const p of main) console.log(`  package   ${p.name} ${p.version}`)
  const rest = image.manifest.packages.length - main.length
  if (rest > 0) console.log(`  package   … and ${rest} more (see the manifest)`)
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv)
  if (args.help) {
    console.log(USAGE)
    return
  }
  const paths = imagePaths()
  const built: BuiltImage[] = []
  for (const name of args.images) {
    const started = Date.now()
    console.log(`building the ${name} image`)
    const image = await build(name, paths, args)
    describe(image, paths, Date.now() - started)
    built.push(image)
  }

  if (args.upload) {
    // Loaded only to upload: the S3 client and the cloud's config take a while to import.
    const { connectS3, publishImage } = await import('./publish.ts')
    const s3 = await connectS3()
    if ('reason' in s3) {
      console.log(`not uploading: ${s3.reason}`)
    } else {
      for (const image of built) {
        const { bucket, uploaded, present } = await publishImage(s3.s3, paths, image)
        console.log(
          `${image.name}: s3://${bucket}/images/${image.sha256}.json  (${uploaded.length} uploaded, ${present.length} already there)`,
        )
      }
    }
  } else {
    console.log('not uploading (--no-upload)')
  }

  if (args.verify) {
    for (const image of built) {
      const name = image.name as ImageName
      console.log(`verifying ${name}: booting it under QEMU (TCG)`)
      const r = await verifyImage(paths, image, BOOT_TIMEOUT_S[name] * 1000)
      console.log(
        `${name}: ${image.manifest.guest.readyLine ?? 'READY'} on the serial console after ${seconds(r.readyMs)}; ${r.service} (${r.serviceMs} ms)`,
      )
      console.log(
        `  power button: ${r.powerOffMs === undefined ? 'ignored (the VM was killed)' : `powered off after ${seconds(r.powerOffMs)}`}; serial log ${r.serialLog}`,
      )
    }
  }
}

try {
  await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof ImageError || (err instanceof Error && err.message.startsWith('unknown argument'))) {
    console.error(`build:images: ${err.message}`)
    process.exit(1)
  }
  throw err
}
