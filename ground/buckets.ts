// The S3 buckets every part names: where components and VM images live, and
// the data buckets of the product's own workloads. The local cloud makes
// them (infra/cloud/config.ts); apps are granted data buckets by name.

/** Components (`components/<sha256>.wasm`) and VM images (`images/<sha256>.<ext>`), read by the drivers. */
export const ARTIFACTS_BUCKET = 'artifacts'
/** The PDF service's files. */
export const PDF_BUCKET = 'cloud-pdfs'
/** Apps' own data; no workload uses it (the tests use it as a bucket a task was not granted). */
export const SCRATCH_BUCKET = 'cloud-scratch'
