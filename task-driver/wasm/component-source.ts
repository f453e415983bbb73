// Where a component may come from, by its form alone: the one S3 object its
// digest names, an http(s) URL, or an absolute path. Pure (no I/O), so the
// controller (jobs/app-spec.ts) refuses what can never be valid and the driver
// checks it again on the client. Whether a path or a host is allowed is the
// node's decision (component_paths, component_hosts: wasm/fetch-component.ts).
import path from 'node:path'
import { ARTIFACTS_BUCKET } from '../../ground/buckets.ts'

/** The object key of a component in the artifacts bucket. */
export const componentObjectKey = (sha256: string): string => `components/${sha256}.wasm`

/** Where a component comes from when its document names no source. */
export const defaultComponentSource = (sha256: string): string =>
  `s3://${ARTIFACTS_BUCKET}/${componentObjectKey(sha256)}`

export type ComponentLocation =
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'http'; readonly url: URL }

/** The location `source` names, or why it can never be a valid source of the component `sha256`. */
export function locateComponent(
  source: string,
  sha256: string,
): { readonly location: ComponentLocation } | { readonly problem: string } {
  if (/\s/.test(source)) return { problem: 'contains white space' }
  if (source.startsWith('s3://')) {
    if (source !== defaultComponentSource(sha256))
      return {
        problem: `only ${defaultComponentSource(sha256)} (the artifacts object named by the component's sha256) may be fetched from S3`,
      }
    return { location: { kind: 's3', bucket: ARTIFACTS_BUCKET, key: componentObjectKey(sha256) } }
  }
  if (/^https?:\/\//i.test(source)) {
    const url = URL.canParse(source) ? new URL(source) : undefined
    if (!url || url.hostname === '') return { problem: 'not a valid http(s) URL' }
    if (url.username !== '' || url.password !== '')
      return { problem: 'a URL with credentials is not accepted' }
    return { location: { kind: 'http', url } }
  }
  if (source.startsWith('/')) {
    if (path.posix.normalize(source) !== source || source.endsWith('/'))
      return { problem: 'expected a normalized absolute path to a file (no ., .. or empty segments)' }
    return { location: { kind: 'file', path: source } }
  }
  return {
    problem: `expected ${defaultComponentSource(sha256)}, an http(s):// URL or an absolute path`,
  }
}
