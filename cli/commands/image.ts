// `leanctl image …`: the images in S3, through the controller (which holds
// the S3 keys). `upload` sends each file a manifest names, found beside it as
// <sha256>.<ext> (the layout of build:images' store and of S3), then the
// manifest itself; the controller verifies every digest and stores nothing
// that does not match. Files already stored are not sent again.
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { ImageView } from '../../controller/image-store.ts'
import { sha256Bytes } from '../../ground/digest.ts'
import { manifestFiles, parseManifest } from '../../ground/image-manifest.ts'
import { DocumentError } from '../errors.ts'
import { formatImageTable, formatBytes } from '../vm-format.ts'
import { printAs, type ApiContext } from './vm.ts'

export async function imageList(ctx: ApiContext, output: 'table' | 'json' | 'yaml'): Promise<number> {
  const { images } = (await ctx.controller.call('GET', '/v1/images')).body as { images: ImageView[] }
  if (output !== 'table') printAs(ctx.io, images, output)
  else if (images.length === 0) ctx.io.err('no images\n')
  else ctx.io.out(formatImageTable(images))
  return 0
}

async function readManifest(file: string) {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    throw new DocumentError(`${file}: ${(err as Error).message}`)
  }
  const sha256 = sha256Bytes(bytes)
  try {
    return { sha256, bytes, manifest: parseManifest(bytes.toString('utf8'), sha256) }
  } catch (err) {
    throw new DocumentError(`${file}: ${(err as Error).message}`)
  }
}

export async function imageUpload(ctx: ApiContext, file: string): Promise<number> {
  const { sha256, bytes, manifest } = await readManifest(file)
  const dir = path.dirname(file)
  for (const f of manifestFiles(manifest)) {
    const name = path.basename(f.key) // <sha256>.<ext>
    const url = `/v1/images/files/${name}`
    if ((await ctx.controller.call('HEAD', url, { accept: [404] })).status === 200) {
      ctx.io.out(`${f.key} already stored\n`)
      continue
    }
    const local = path.join(dir, name)
    const size = await stat(local).then(
      (s) => s.size,
      () => undefined,
    )
    if (size === undefined)
      throw new DocumentError(`${local}: not found; the manifest names ${f.key}, which is not stored either`)
    const stream = Readable.toWeb(createReadStream(local)) as ReadableStream<Uint8Array>
    await ctx.controller.call('PUT', url, { raw: stream })
    ctx.io.out(`${f.key} uploaded (${formatBytes(size)})\n`)
  }
  const answer = await ctx.controller.call('PUT', `/v1/images/${sha256}`, { raw: bytes })
  ctx.io.out(`image/${manifest.name} ${sha256} ${answer.status === 201 ? 'uploaded' : 'already stored'}\n`)
  return 0
}
