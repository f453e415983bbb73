// Reads back what the cloud's SMTP server delivered: every message in its
// Maildir (new/ and cur/), parsed with mailparser.
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser'
import { waitFor } from '../../infra/cloud/wait.ts'

export interface DeliveredMessage {
  /** The message's file in the Maildir. */
  readonly file: string
  readonly mail: ParsedMail
  /** Addresses in the To header. */
  readonly to: readonly string[]
  /** The SMTP envelope as the server recorded it (X-MailFrom, X-RcptTo): Bcc recipients show only here. */
  readonly envelope: { readonly from: string; readonly to: readonly string[] }
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = field === undefined ? [] : Array.isArray(field) ? field : [field]
  return list.flatMap((a) => a.value.map((v) => v.address ?? '')).filter(Boolean)
}

function header(mail: ParsedMail, name: string): string {
  const value = mail.headers.get(name)
  return typeof value === 'string' ? value : ''
}

// Maildir files never change once delivered (a reader may only rename them
// into cur/), so each is parsed once per process, however often tests poll.
const parsed = new Map<string, { mtimeMs: number; message: DeliveredMessage }>()

async function readMessage(file: string): Promise<{ mtimeMs: number; message: DeliveredMessage } | undefined> {
  const cached = parsed.get(file)
  if (cached) return cached
  let read: [Buffer, { mtimeMs: number }]
  try {
    read = await Promise.all([readFile(file), stat(file)])
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // moved into cur/ while we looked
    throw err
  }
  const [source, { mtimeMs }] = read
  const mail = await simpleParser(source)
  const envelopeTo = header(mail, 'x-rcptto')
  const message: DeliveredMessage = {
    file,
    mail,
    to: addresses(mail.to),
    envelope: { from: header(mail, 'x-mailfrom'), to: envelopeTo ? envelopeTo.split(/,\s*/) : [] },
  }
  const entry = { mtimeMs, message }
  parsed.set(file, entry)
  return entry
}

/** Every message delivered into the Maildir, oldest first. */
export async function deliveredMessages(maildir: string): Promise<DeliveredMessage[]> {
  const files: string[] = []
  // The server writes into tmp/ and renames into new/: a file in new/ is always complete.
  for (const sub of ['new', 'cur']) {
    for (const name of await readdir(path.join(maildir, sub))) {
      if (!name.startsWith('.')) files.push(path.join(maildir, sub, name))
    }
  }
  const entries = (await Promise.all(files.map(readMessage))).filter((e) => e !== undefined)
  return entries.sort((a, b) => a.mtimeMs - b.mtimeMs || a.message.file.localeCompare(b.message.file)).map((e) => e.message)
}

/** Waits until a message matching predicate is in the Maildir, and returns it. */
export function waitForMessage(
  maildir: string,
  predicate: (message: DeliveredMessage) => boolean,
  timeoutMs = 60_000,
): Promise<DeliveredMessage> {
  return waitFor(async () => (await deliveredMessages(maildir)).find(predicate), {
    timeoutMs,
    what: `a message matching ${predicate.toString().slice(0, 120)} in ${maildir}`,
    intervalMs: 100,
  })
}
