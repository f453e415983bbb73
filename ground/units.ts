// Sizes and durations, in the one grammar every part reads them in: app
// documents, the drivers' job config, the controller's configuration and
// leanctl's flags. A value that does not parse is a UnitError carrying only
// the reason; the caller names the field (fieldValue).

/** Why a value is not a size or a duration; `reason` reads after the field's name. */
export class UnitError extends Error {
  readonly reason: string

  constructor(reason: string) {
    super(reason)
    this.name = 'UnitError'
    this.reason = reason
  }
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kib: 1024,
  kb: 1000,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
}

/** Bytes of `512KiB`, `64MiB`, `2GB`, `4096` (binary and decimal units, any case). */
export function parseSize(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw.trim())
  const unit = SIZE_UNITS[m?.[2]?.toLowerCase() ?? 'x']
  if (!m || unit === undefined) throw new UnitError(`expected a size such as "512KiB" or "64MiB", got ${JSON.stringify(raw)}`)
  const bytes = Math.floor(Number(m[1]) * unit)
  if (bytes <= 0) throw new UnitError('must be greater than zero')
  return bytes
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Milliseconds of a Go-style duration, as Consul and Nomad write them: `500ms`, `30s`, `1.5m`, `1h30m`. */
export function parseDuration(raw: string): number {
  const text = raw.trim()
  if (!/^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text))
    throw new UnitError(`expected a duration such as "500ms", "30s", "2m" or "1h30m", got ${JSON.stringify(raw)}`)
  let ms = 0
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * DURATION_UNITS[unit!]!
  if (ms <= 0) throw new UnitError('must be greater than zero')
  return ms
}

/** `parse()`'s value; a UnitError becomes `fail(field, reason)`, the caller's own error. */
export function fieldValue<T>(field: string, parse: () => T, fail: (field: string, reason: string) => never): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof UnitError) return fail(field, err.reason)
    throw err
  }
}
