// Waits for a line on a VM's serial console, which libvirt writes to a file:
// the file is read from where the last read stopped, so a long console costs
// nothing per poll. The driver tails the same file into the task's logs.
import { open } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { VirtError } from './errors.ts'

/** Splits what was read into complete lines, keeping the unfinished tail (pure). */
export function splitLines(carry: string, chunk: string): { lines: string[]; carry: string } {
  const parts = (carry + chunk).split(/\r?\n/)
  const rest = parts.pop() ?? ''
  return { lines: parts.map((l) => l.replace(/\r/g, '')), carry: rest }
}

export interface WaitLineOptions {
  readonly timeoutMs: number
  /** Where to start reading (bytes); 0 for the whole file. */
  readonly fromOffset?: number
  /** Called every progressEveryMs while waiting. */
  readonly onProgress?: (waitedMs: number) => void
  readonly progressEveryMs?: number
  /** Checked each poll; a string stops the wait with that reason (e.g. the domain is gone). */
  readonly abort?: () => Promise<string | undefined>
  readonly intervalMs?: number
}

/** Resolves with the ms waited once a line equal to `line` (trimmed) appears in `file`. */
export async function waitForConsoleLine(file: string, line: string, o: WaitLineOptions): Promise<number> {
  const started = Date.now()
  let offset = o.fromOffset ?? 0
  let carry = ''
  let nextProgress = started + (o.progressEveryMs ?? 10_000)
  let polls = 0
  const buf = Buffer.alloc(64 * 1024)
  for (;;) {
    const fh = await open(file, 'r').catch(() => undefined)
    if (fh) {
      try {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset)
          if (bytesRead === 0) break
          offset += bytesRead
          const split = splitLines(carry, buf.subarray(0, bytesRead).toString('latin1'))
          carry = split.carry
          if (split.lines.some((l) => l.trim() === line)) return Date.now() - started
        }
      } finally {
        await fh.close()
      }
    }
    const now = Date.now()
    if (now - started >= o.timeoutMs)
      throw new VirtError(
        'LEAN_ERR_VIRT_BOOT',
        `no '${line}' on the serial console (${file}) within ${o.timeoutMs} ms`,
      )
    if (o.abort && ++polls % 10 === 0) {
      const why = await o.abort()
      if (why) throw new VirtError('LEAN_ERR_VIRT_BOOT', `stopped waiting for '${line}' on ${file}: ${why}`)
    }
    if (o.onProgress && now >= nextProgress) {
      o.onProgress(now - started)
      nextProgress = now + (o.progressEveryMs ?? 10_000)
    }
    await sleep(o.intervalMs ?? 100)
  }
}

/** The last `n` lines of a console file, for error messages. */
export async function consoleTail(file: string, n = 20): Promise<string> {
  const fh = await open(file, 'r').catch(() => undefined)
  if (!fh) return '(no console output)'
  try {
    const { size } = await fh.stat()
    const len = Math.min(size, 16 * 1024)
    const buf = Buffer.alloc(len)
    await fh.read(buf, 0, len, size - len)
    return buf.toString('latin1').trimEnd().split(/\r?\n/).slice(-n).join('\n')
  } finally {
    await fh.close()
  }
}
