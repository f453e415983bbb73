// Where the image builder keeps things, all outside the repository under
// ${LEAN_CLOUD_CACHE:-~/.cache/lean-cloud}/images/.
import os from 'node:os'
import path from 'node:path'

export interface ImagePaths {
  readonly root: string
  /** Downloaded .deb files, named as apt-get names them (name_version_arch.deb). */
  readonly debs: string
  /** Unpacked .deb files, one directory per .deb digest. */
  readonly unpacked: string
  /** The content-addressed store: images/<sha256>.<ext>, exactly as uploaded. */
  readonly store: string
  /** Build cache: <image>-<inputs digest>.json, the manifest digest built from those inputs. */
  readonly index: string
  /** Scratch space of a build, removed when it ends. */
  readonly work: string
  readonly logs: string
}

export function imagePaths(env: NodeJS.ProcessEnv = process.env): ImagePaths {
  const cache = env.LEAN_CLOUD_CACHE
    ? path.resolve(env.LEAN_CLOUD_CACHE)
    : path.join(os.homedir(), '.cache', 'lean-cloud')
  const root = path.join(cache, 'images')
  return {
    root,
    debs: path.join(root, 'debs'),
    unpacked: path.join(root, 'unpacked'),
    store: path.join(root, 'store'),
    index: path.join(root, 'index'),
    work: path.join(root, 'work'),
    logs: path.join(root, 'logs'),
  }
}
