// Events the wasmtime host wants Nomad to show for the task (an instance
// trapped, outgrew its memory limit, or hung). The host appends JSON lines to
// events.jsonl in the task's state dir; the plugin tails the file and forwards
// each line on the TaskEvents stream, so this works across plugin restarts too.
import { open } from 'node:fs/promises'
import path from 'node:path'

export interface RunnerEvent {
  readonly message: string
  readonly annotations?: Record<string, string>
}

export const eventsFile = (stateDir: string) => path.join(stateDir, 'events.jsonl')

/** Reads events appended since `offset`; returns them and the new offset. */
export async function readEventsSince(stateDir: string, offset: number): Promise<{ events: RunnerEvent[]; offset: number }> {
  let file
  try {
    file = await open(eventsFile(stateDir), 'r')
  } catch {
    return { events: [], offset }
  }
  try {
    const { size } = await file.stat()
    if (size <= offset) return { events: [], offset }
    const buffer = Buffer.alloc(size - offset)
    await file.read(buffer, 0, buffer.length, offset)
    const text = buffer.toString('utf8')
    const complete = text.lastIndexOf('\n') + 1 // a line still being written waits for the next read
    const events = text
      .slice(0, complete)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RunnerEvent)
    return { events, offset: offset + Buffer.byteLength(text.slice(0, complete)) }
  } finally {
    await file.close()
  }
}
