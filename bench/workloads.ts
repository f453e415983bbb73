// bench:workloads — the PDF service (1 KB of text per request, no email)
// as a wasm driver task (started as StartTask starts it) versus the same handler as a plain Node
// fastify service, in one run, against the same real S3 and PostgreSQL.
// Both sides do the whole request: validate, render, store, log, presign.
// Load: wrk, the same command on both sides.
// Both serve at once and are loaded in turns for BENCH_ROUNDS rounds; the median counts.
// In the same run and rounds: the same component as one Nomad allocation, called
// directly on its port and through the cloud's ingress (HAProxy, jobs/ingress.ts),
// with the PDF request and with GET /health (which shows the proxy's own cost).
// Every script the bundled fonts cover is loaded in turn (node, then wasm), and all are printed in one
// table; then the task's memory after that mixed-script load (VmRSS, peak and Pss of the wasmtime host,
// against its memory after Latin only) and the component's size.
// Knobs: BENCH_SECONDS (10; 5 with several scripts), BENCH_ROUNDS (3; 1 with several scripts),
// BENCH_CONNECTIONS (8), BENCH_INSTANCES (4, the job's default),
// BENCH_SCRIPT (all, or one or a comma list of: latin, greek, cyrillic, arabic, hebrew, devanagari, thai,
// bengali, … ; see `prose` below). The ingress figures are measured with the first script only.
import { spawn, type ChildProcess } from 'node:child_process'
import { statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { processMemory, type ProcessMemory } from '../ground/proc-stats.ts'
import { s3AccessFromEnv } from '../ground/s3-client.ts'
import { resolveBinaries } from '../infra/cloud/binaries.ts'
import { loadConfig } from '../infra/cloud/config.ts'
import { freePort } from '../infra/cloud/free-port.ts'
import { waitFor } from '../infra/cloud/wait.ts'

// Kernel-chosen ports: never inside a cloud's Nomad port range, where running tasks listen.
const WASM_PORT = await freePort()
const NODE_PORT = await freePort()
import { renderWasmServiceJob } from '../jobs/wasm-service.ts'
import { pdfServiceSpec } from '../jobs/workloads.ts'
import pino from 'pino'
import { launchTask } from '../task-driver/wasm/launch-task.ts'
import { parseTaskConfig } from '../task-driver/wasm/task-config.ts'
import type { RunnerSpec } from '../task-driver/wasm/runner-spec.ts'
import { useCloud } from '../test/harness/cloud.ts'
import { pdfComponent } from '../test/harness/components.ts'
import { startIngressTarget } from './ingress-target.ts'
import { medianByRate, runLoad, type LoadBody, type LoadResult } from './load.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// About 1 KB of ordinary prose (UTF-8), as JSON, per script: the same sentence
// ("the invoice total was checked twice before the document was sent to the
// customer"), repeated. Latin-1 is set in Helvetica without shaping; every
// other script goes through bidi, font fallback, shaping and font subsets.
const prose: Record<string, string> = {
  latin: 'The quick brown fox jumps over the lazy dog while the invoice totals are checked twice.',
  greek: 'Το σύνολο του τιμολογίου ελέγχθηκε δύο φορές πριν σταλεί το έγγραφο στον πελάτη.',
  cyrillic: 'Сумма счёта была проверена дважды перед отправкой документа клиенту.',
  arabic: 'تم فحص مجموع الفاتورة مرتين قبل إرسال المستند إلى العميل.',
  hebrew: 'סכום החשבונית נבדק פעמיים, 123 פריטים, לפני שהמסמך נשלח ללקוח.',
  devanagari: 'ग्राहक को दस्तावेज़ भेजने से पहले चालान की कुल राशि दो बार जाँची गई।',
  thai: 'ยอดรวมของใบแจ้งหนี้ได้รับการตรวจสอบสองครั้ง ก่อนส่งเอกสารให้ลูกค้า',
  chinese: '发票总额在文件发送给客户之前检查了两次。',
  japanese: '請求書の合計金額は、書類を顧客に送る前に二回確認されました。',
  korean: '청구서 합계는 고객에게 문서를 보내기 전에 두 번 확인되었습니다.',
  bengali: 'গ্রাহকের কাছে নথি পাঠানোর আগে চালানের মোট পরিমাণ দুবার পরীক্ষা করা হয়েছিল।',
  tamil: 'வாடிக்கையாளருக்கு ஆவணம் அனுப்பப்படுவதற்கு முன் விலைப்பட்டியலின் மொத்தத் தொகை இரண்டு முறை சரிபார்க்கப்பட்டது.',
  telugu: 'వినియోగదారునికి పత్రం పంపే ముందు ఇన్వాయిస్ మొత్తం రెండుసార్లు తనిఖీ చేయబడింది.',
  gujarati: 'ગ્રાહકને દસ્તાવેજ મોકલતા પહેલાં ઇન્વૉઇસની કુલ રકમ બે વાર તપાસવામાં આવી હતી.',
  gurmukhi: 'ਗਾਹਕ ਨੂੰ ਦਸਤਾਵੇਜ਼ ਭੇਜਣ ਤੋਂ ਪਹਿਲਾਂ ਬਿੱਲ ਦੀ ਕੁੱਲ ਰਕਮ ਦੋ ਵਾਰ ਜਾਂਚੀ ਗਈ।',
  kannada: 'ಗ್ರಾಹಕರಿಗೆ ದಾಖಲೆಯನ್ನು ಕಳುಹಿಸುವ ಮೊದಲು ಬಿಲ್ಲಿನ ಒಟ್ಟು ಮೊತ್ತವನ್ನು ಎರಡು ಬಾರಿ ಪರಿಶೀಲಿಸಲಾಯಿತು.',
  malayalam: 'ഉപഭോക്താവിന് രേഖ അയയ്ക്കുന്നതിന് മുമ്പ് ഇൻവോയ്സിന്റെ ആകെ തുക രണ്ടുതവണ പരിശോധിച്ചു.',
  sinhala: 'පාරිභෝගිකයාට ලේඛනය යැවීමට පෙර ඉන්වොයිසියේ මුළු මුදල දෙවරක් පරීක්ෂා කරන ලදී.',
  khmer: 'ចំនួនសរុបនៃវិក្កយបត្រ ត្រូវបានពិនិត្យពីរដង មុនពេលផ្ញើឯកសារទៅអតិថិជន។',
  lao: 'ຍອດລວມຂອງໃບແຈ້ງໜີ້ ໄດ້ຖືກກວດສອບສອງຄັ້ງ ກ່ອນສົ່ງເອກະສານໃຫ້ລູກຄ້າ.',
  myanmar: 'ဖောက်သည်ထံ စာရွက်စာတမ်း မပို့မီ ငွေတောင်းခံလွှာ စုစုပေါင်းကို နှစ်ကြိမ် စစ်ဆေးခဲ့သည်။',
  georgian: 'ინვოისის ჯამი ორჯერ შემოწმდა, სანამ დოკუმენტი კლიენტს გაეგზავნებოდა.',
  armenian: 'Հաշվի ընդհանուր գումարը երկու անգամ ստուգվեց՝ նախքան փաստաթուղթը հաճախորդին ուղարկելը։',
  ethiopic: 'ሰነዱ ለደንበኛው ከመላኩ በፊት የደረሰኙ ጠቅላላ ድምር ሁለት ጊዜ ተረጋግጧል።',
}
const scriptList = process.env.BENCH_SCRIPT ?? 'all'
const scripts = scriptList === 'all' ? Object.keys(prose) : scriptList.split(',').map((s) => s.trim())
for (const script of scripts) if (!prose[script]) throw new Error(`BENCH_SCRIPT: expected all, or one or a comma list of ${Object.keys(prose).join(', ')}; got ${script}`)
const several = scripts.length > 1
const seconds = Number(process.env.BENCH_SECONDS ?? (several ? 5 : 10))
const connections = Number(process.env.BENCH_CONNECTIONS ?? 8)
const instances = Number(process.env.BENCH_INSTANCES ?? 4)
const rounds = Number(process.env.BENCH_ROUNDS ?? (several ? 1 : 3))

function bodyFor(script: string): LoadBody {
  const words = prose[script]!
  let text = words
  while (Buffer.byteLength(text) < 1024) text += ` ${words}`
  return { contentType: 'application/json', data: Buffer.from(JSON.stringify({ text })) }
}
const body = bodyFor(scripts[0]!)

function row(name: string, r: LoadResult): string {
  return `${name.padEnd(34)} ${r.rps.toFixed(1).padStart(8)} req/s   p50 ${r.p50Ms.toFixed(1).padStart(7)} ms   p99 ${r.p99Ms.toFixed(1).padStart(7)} ms   errors ${r.errors}`
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

async function untilServing(url: string, exited: () => boolean): Promise<void> {
  await waitFor(
    async () => {
      if (exited()) throw new Error(`${url}: the process exited`)
      const res = await fetch(url, { method: 'POST', body: body.data, headers: { 'content-type': body.contentType } }).catch(() => undefined)
      if (res && res.status !== 200) throw new Error(`${url} answered ${res.status}: ${await res.text()}`)
      return res?.status === 200
    },
    { timeoutMs: 120_000, intervalMs: 100, what: `${url} to serve`, isFatal: () => true },
  )
}

const tableHeader = `${'script'.padEnd(11)} ${'Node req/s'.padStart(10)} ${'wasm req/s'.padStart(10)}  ratio    ${'Node p50'.padStart(10)} ${'wasm p50'.padStart(9)}  errors`

/** One script's figures: the baseline, the task, and their ratio against the 0.25x target. */
function scriptRow(script: string, node: LoadResult, wasm: LoadResult): string {
  const ratio = wasm.rps / node.rps
  return `${script.padEnd(11)} ${node.rps.toFixed(1).padStart(10)} ${wasm.rps.toFixed(1).padStart(10)}  ${ratio.toFixed(3)}x ${node.p50Ms.toFixed(1).padStart(7)} ms ${wasm.p50Ms.toFixed(1).padStart(6)} ms  ${String(node.errors + wasm.errors).padStart(6)}  ${ratio >= 0.25 ? 'ok' : 'MISS'}`
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`

const { config: cloud, env } = await useCloud()
const pdf = await pdfComponent()
console.log(
  `bench:workloads  ${seconds}s per side in ${rounds} round(s) (median shown), ${connections} connections, 1 KB of text in ${scripts.length} script(s) (${scripts.join(', ')}), Node ${process.versions.node}`,
)
console.log(`component: ${pdf.file}, ${(statSync(pdf.file).size / 1e6).toFixed(2)} MB`)

// Baseline: the plain Node twin, one process.
const twin = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'infra/node-twin.ts'), 'pdf', '--port', String(NODE_PORT)], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, ...env },
})
await untilServing(`http://127.0.0.1:${NODE_PORT}/`, () => twin.exitCode !== null)

// The component as a driver task, configured exactly as the pdf job configures it.
const task = renderWasmServiceJob(pdfServiceSpec({ sha256: pdf.sha256, port: 'dynamic', instances })).TaskGroups[0]!.Tasks[0]!
const stateDir = await mkdtemp(path.join(tmpdir(), 'bench-pdf-'))
const cacheDir = await mkdtemp(path.join(tmpdir(), 'bench-pdf-cache-'))
const spec: RunnerSpec = {
  taskId: 'bench/pdf',
  config: parseTaskConfig({ ...(task.Config as Record<string, unknown>), component: pdf.file }),
  host: '127.0.0.1',
  port: WASM_PORT,
  cacheDir,
  stateDir,
  guestEnv: { PDF_BUCKET: 'cloud-pdfs' },
  capabilities: {
    // The bench holds only the admin key; the cloud's drivers hold one identity per bucket.
    buckets: { 'cloud-pdfs': s3AccessFromEnv(env, env.S3_ACCESS_KEY!, env.S3_SECRET_KEY!) },
    databaseUrl: env.DATABASE_WRITER_URL!,
    consulDns: env.CONSUL_DNS_ADDR!,
  },
  capabilityToken: 'bench-token',
  // The wasmtime host, built (once) by the same script as the cloud's binaries.
  wasmtimeHost: (await resolveBinaries(loadConfig(), ['wasm-host']))['wasm-host']!,
}
const launched = await launchTask(spec, '/dev/null', '/dev/null', pino({ level: 'warn' }))
await untilServing(`http://127.0.0.1:${WASM_PORT}/`, () => launched.handle.exited !== undefined)

// The same component as one allocation of a Nomad job that asks for the ingress.
const target = await startIngressTarget(env, cloud.ingress.port, pdf, instances)

// Both serve at once and are loaded in turns, round after round (the median
// round counts), so drift in the machine's load hits both sides alike.
const perScript = new Map<string, { node: LoadResult[]; wasm: LoadResult[] }>()
const directRounds: LoadResult[] = []
const ingressRounds: LoadResult[] = []
const directHealthRounds: LoadResult[] = []
const ingressHealthRounds: LoadResult[] = []
let latinMemory: ProcessMemory | undefined
let mixedMemory: ProcessMemory | undefined
try {
  await runLoad(`http://127.0.0.1:${WASM_PORT}/`, { connections, durationMs: 2000, body: bodyFor('latin') })
  latinMemory = await processMemory(launched.handle.pid)
  for (const script of scripts) {
    const scriptBody = bodyFor(script)
    const figures = { node: [] as LoadResult[], wasm: [] as LoadResult[] }
    perScript.set(script, figures)
    for (let round = 0; round < rounds; round++) {
      figures.node.push(await runLoad(`http://127.0.0.1:${NODE_PORT}/`, { connections, durationMs: seconds * 1000, body: scriptBody }))
      figures.wasm.push(await runLoad(`http://127.0.0.1:${WASM_PORT}/`, { connections, durationMs: seconds * 1000, body: scriptBody }))
      if (script === scripts[0]) {
        directRounds.push(await runLoad(target.direct, { connections, durationMs: seconds * 1000, body }))
        ingressRounds.push(await runLoad(target.ingress, { connections, durationMs: seconds * 1000, body, headers: target.headers }))
        directHealthRounds.push(await runLoad(`${target.direct}health`, { connections, durationMs: seconds * 1000 }))
        ingressHealthRounds.push(await runLoad(`${target.ingress}health`, { connections, durationMs: seconds * 1000, headers: target.headers }))
      }
    }
    console.log(scriptRow(script, medianByRate(figures.node), medianByRate(figures.wasm)))
  }
  mixedMemory = await processMemory(launched.handle.pid)
} finally {
  await target.stop()
  await stop(twin)
  await launched.handle.stop('SIGTERM', 10_000)
  await launched.capabilities?.close()
  await rm(stateDir, { recursive: true, force: true })
  await rm(cacheDir, { recursive: true, force: true })
}

console.log(`\nPDF requests per second: the wasm driver task (${instances} instance(s)) against the plain Node twin (fastify, one process), 1 KB of text each`)
console.log(tableHeader)
let met = 0
for (const [script, figures] of perScript) {
  const line = scriptRow(script, medianByRate(figures.node), medianByRate(figures.wasm))
  if (line.endsWith('ok')) met++
  console.log(line)
}
console.log(`${met} of ${perScript.size} script(s) at or above 0.25x the Node twin`)
if (latinMemory && mixedMemory) {
  console.log(`\nthe task's memory (the wasmtime host, ${instances} instance(s)), after Latin only -> after the load in ${scripts.length} script(s):`)
  console.log(
    `  VmRSS ${mb(latinMemory.rss)} -> ${mb(mixedMemory.rss)} (target <= 60 MB: ${mixedMemory.rss <= 60e6 ? 'ok' : 'MISS'}), peak (VmHWM) ${mb(mixedMemory.hwm)}, Pss ${mb(latinMemory.pss)} -> ${mb(mixedMemory.pss)}`,
  )
}
for (const [what, direct, ingress] of [
  ['PDF', directRounds, ingressRounds],
  ['GET /health', directHealthRounds, ingressHealthRounds],
] as const) {
  const d = medianByRate(direct)
  const i = medianByRate(ingress)
  console.log(`${what} (${scripts[0]}), req/s by round: one allocation direct ${direct.map((r) => r.rps.toFixed(1)).join(', ')}; through the ingress ${ingress.map((r) => r.rps.toFixed(1)).join(', ')}`)
  console.log(row(`${what} direct (one allocation)`, d))
  console.log(row(`${what} through the ingress`, i))
  console.log(`ratio (ingress / direct)`.padEnd(34) + ` ${(i.rps / d.rps).toFixed(3)}x req/s, p50 ${i.p50Ms >= d.p50Ms ? '+' : ''}${(i.p50Ms - d.p50Ms).toFixed(1)} ms`)
}
