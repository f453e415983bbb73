// Component inspection from bytes alone: core module or component, the
// top-level import and export names, and the check that the engine can serve
// it. On hand-built binaries, and on the repository's own built components
// (workloads/dist, made by `npm run build:workloads`).
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { checkServiceComponent } from '../../../ground/component-check.ts'
import { ComponentInspectError, inspectWasm } from '../../../ground/component-inspect.ts'
import { ENGINE_INTERFACES, ENGINE_OWN_INTERFACES, engineProvides } from '../../../ground/engine-interfaces.ts'
import {
  COMPONENT_PREAMBLE,
  component,
  coreModule,
  customSection,
  externName,
  HANDLER,
  section,
  SOME_IMPORTS,
} from '../../harness/component-binaries.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

function refusal(bytes: Uint8Array): { code: string; problems: readonly string[] } {
  try {
    checkServiceComponent(bytes)
  } catch (err) {
    assert.ok(err instanceof ComponentInspectError, String(err))
    return { code: err.code, problems: err.problems }
  }
  return assert.fail('the check passed')
}

test('a core module is told apart from a component by its preamble, and refused saying how to make one', () => {
  assert.deepEqual(inspectWasm(coreModule()), { kind: 'core-module' })
  assert.deepEqual(refusal(coreModule()), {
    code: 'LEAN_ERR_COMPONENT_CORE_MODULE',
    problems: ['a core module, not a component (build for wasm32-wasip2 or run `wasm-tools component new`)'],
  })
})

test("a component's top-level imports and exports are listed by name and kind, in order", () => {
  const bytes = component({ exports: [HANDLER, 'other:pkg/api@1.0.0'] })
  assert.deepEqual(inspectWasm(bytes), {
    kind: 'component',
    imports: SOME_IMPORTS.map((name) => ({ name, kind: 'instance' })),
    exports: [
      { name: HANDLER, kind: 'instance' },
      { name: 'other:pkg/api@1.0.0', kind: 'instance' },
    ],
  })
  assert.deepEqual(checkServiceComponent(bytes).exports[0], { name: HANDLER, kind: 'instance' })
})

test('every extern kind and an export with a type ascription are skipped over correctly', () => {
  // As `jco parse` assembles: (type (instance (export "f" (func)))), then imports of
  // an instance, a func, a (sub resource) type, an (eq) type, a component and a core
  // module; exports of an instance, a func with its type, a type and a component.
  const funcType = [0x40, 0x01, ...[0x01, 0x78], 0x79, 0x00, 0x73] // (func (param "x" u32) (result string))
  const bytes = Buffer.from([
    ...COMPONENT_PREAMBLE,
    ...section(7, [1, 0x42, 2, 0x01, 0x40, 0x00, 0x01, 0x00, 0x04, ...externName('f'), 0x01, 0x00]),
    ...section(10, [1, ...externName('wasi:cli/environment@0.2.3'), 0x05, 0x00]),
    ...section(7, [1, ...funcType]),
    ...section(10, [
      3,
      ...[...externName('my-func'), 0x01, 0x01],
      ...[...externName('res'), 0x03, 0x01],
      ...[...externName('alias'), 0x03, 0x00, 0x02],
    ]),
    ...section(7, [1, 0x41, 2, 0x01, 0x40, 0x00, 0x01, 0x00, 0x03, ...externName('x'), 0x01, 0x00]),
    ...section(10, [1, ...externName('sub'), 0x04, 0x04]),
    ...section(10, [1, ...externName('mod'), 0x00, 0x11, 0x00]),
    ...section(10, [1, ...externName('v'), 0x02, 0x01, 0x73]), // a value import of type string
    ...section(11, [
      4,
      ...[...externName(HANDLER), 0x05, 0x00, 0x00],
      ...[...externName('exported-func'), 0x01, 0x00, 0x01, 0x01, 0x01],
      ...[...externName('exported-type'), 0x03, 0x02, 0x00],
      ...[...externName('c'), 0x04, 0x00, 0x00],
    ]),
  ])
  assert.deepEqual(inspectWasm(bytes), {
    kind: 'component',
    imports: [
      { name: 'wasi:cli/environment@0.2.3', kind: 'instance' },
      { name: 'my-func', kind: 'func' },
      { name: 'res', kind: 'type' },
      { name: 'alias', kind: 'type' },
      { name: 'sub', kind: 'component' },
      { name: 'mod', kind: 'core-module' },
      { name: 'v', kind: 'value' },
    ],
    exports: [
      { name: HANDLER, kind: 'instance' },
      { name: 'exported-func', kind: 'func' },
      { name: 'exported-type', kind: 'type' },
      { name: 'c', kind: 'component' },
    ],
  })
})

test('names: the 0x01 form, and the 0x02 form with attributes, whose version suffix completes the name', () => {
  const bytes = Buffer.from([
    ...COMPONENT_PREAMBLE,
    ...section(7, [1, 0x42, 0x00]),
    ...section(10, [
      3,
      ...[0x01, ...externName('wasi:io/poll@0.2.1').slice(1), 0x05, 0x00],
      ...[...externName('wasi:io/error@0.2', '.12'), 0x05, 0x00],
      // implements "wasi:keyvalue/store" (0x00) and an external id (0x02): the name is "primary"
      ...[0x02, ...externName('primary').slice(1), 2, 0x00, ...externName('wasi:keyvalue/store').slice(1), 0x02, ...externName('id-1').slice(1), 0x05, 0x00],
    ]),
    ...section(5, [1, 0x01, 0x00]),
    ...section(11, [1, ...externName('wasi:http/incoming-handler@0.2', '.6'), 0x05, 0x03, 0x00]),
  ])
  const found = inspectWasm(bytes)
  assert.equal(found.kind, 'component')
  assert.deepEqual(
    found.kind === 'component' && [found.imports.map((i) => i.name), found.exports.map((e) => e.name)],
    [['wasi:io/poll@0.2.1', 'wasi:io/error@0.2.12', 'primary'], ['wasi:http/incoming-handler@0.2.6']],
  )
  assert.deepEqual(refusal(bytes).problems, ['imports primary, which the engine does not provide'])
})

test('custom sections and nested components are skipped: only top-level names count', () => {
  const nested = [
    ...COMPONENT_PREAMBLE,
    ...section(7, [1, 0x42, 0x00]),
    ...section(10, [1, ...externName('nested:only/inside@1.0.0'), 0x05, 0x00]),
  ]
  const bytes = component({ imports: [], extra: [...customSection('producers', [0xff, 0x00, 0x0a]), ...section(4, nested)] })
  assert.deepEqual(inspectWasm(bytes), { kind: 'component', imports: [], exports: [{ name: HANDLER, kind: 'instance' }] })
  checkServiceComponent(bytes)
})

test('what is not a readable WebAssembly binary is refused as malformed, saying where', () => {
  const good = component()
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty', Buffer.alloc(0), /^not a WebAssembly binary/],
    ['text', Buffer.from('<html>not wasm</html>'), /^not a WebAssembly binary \(it does not start with \\0asm\)$/],
    ['an old component encoding', Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0a, 0x00, 0x01, 0x00]), /^unknown WebAssembly version and layer 0a 00 01 00 /],
    ['cut short', good.subarray(0, good.length - 3), /runs past the end of the file$/],
    ['an unknown section', Buffer.concat([good, Buffer.from([13, 0])]), /^unknown section id 13 at byte \d+$/],
    ['a bad LEB128', Buffer.from([...COMPONENT_PREAMBLE, 10, 0xff, 0xff, 0xff, 0xff, 0x7f]), /^bad u32 at byte 9$/],
    ['bytes left in a section', Buffer.from([...COMPONENT_PREAMBLE, ...section(11, [0, 0x00])]), /^section 11 at byte 8 has 1 bytes left over$/],
    ['a name that is not UTF-8', Buffer.from([...COMPONENT_PREAMBLE, ...section(10, [1, 0x00, 2, 0xc3, 0x28, 0x05, 0x00])]), /^a name at byte 13 is not UTF-8$/],
    ['an unknown extern type', Buffer.from([...COMPONENT_PREAMBLE, ...section(10, [1, ...externName('a'), 0x09, 0x00])]), /^unknown extern type 0x9 at byte 14$/],
  ]
  for (const [what, bytes, reason] of cases) {
    const { code, problems } = refusal(bytes)
    assert.equal(code, 'LEAN_ERR_COMPONENT_MALFORMED', what)
    assert.equal(problems.length, 1, what)
    assert.match(problems[0]!, reason, what)
  }
})

test('the check names every problem: the missing handler first, then one line per import the engine lacks', () => {
  const bytes = component({
    imports: ['wasi:cli/environment@0.2.0', 'acme:db/query@1.0.0', 'wasi:clocks/timezone@0.2.12', 'wasi:io/poll@0.2.13', 'wasi:io/streams'],
    exports: ['acme:api/handler@1.0.0'],
  })
  assert.deepEqual(refusal(bytes), {
    code: 'LEAN_ERR_COMPONENT_UNSUPPORTED',
    problems: [
      'exports no wasi:http/incoming-handler',
      'imports acme:db/query@1.0.0, which the engine does not provide',
      'imports wasi:clocks/timezone@0.2.12, which the engine does not provide',
      'imports wasi:io/poll@0.2.13, which the engine does not provide (it provides wasi:io/poll at 0.2.0 to 0.2.12)',
      'imports wasi:io/streams, which the engine does not provide (it provides wasi:io/streams at 0.2.0 to 0.2.12)',
    ],
  })
  assert.deepEqual(refusal(component({ imports: [], exports: ['wasi:http/incoming-handler@0.3.0-rc-2025-09-16'] })).problems, [
    'exports no wasi:http/incoming-handler at 0.2.0 to 0.2.12 (it exports wasi:http/incoming-handler@0.3.0-rc-2025-09-16 (instance))',
  ])
})

test('versions: 0.2.0 up to 0.2.12 of the interfaces the engine links, nothing else', () => {
  for (const ok of ['wasi:io/poll@0.2.0', 'wasi:io/poll@0.2.12', 'wasi:io/poll@0.2', 'wasi:http/outgoing-handler@0.2.10', 'wasi:sockets/tcp@0.2.5'])
    assert.equal(engineProvides(ok), true, ok)
  for (const no of [
    'wasi:io/poll@0.2.13',
    'wasi:io/poll@0.3.0',
    'wasi:io/poll@0.2.0-rc-2023-11-10',
    'wasi:io/poll@0.2.01',
    'wasi:io/poll@1.0.0',
    'wasi:io/poll',
    'wasi:cli/run@0.2.0',
    'wasi:http/incoming-handler@0.2.0',
    'wasi:clocks/timezone@0.2.12',
    '@0.2.0',
  ])
    assert.equal(engineProvides(no), false, no)
})

test('the engine interfaces are those of the pinned wasmtime-wasi crates, when their sources are at hand', async (t) => {
  const cargo = await readFile(path.join(repo, 'task-driver', 'engine', 'Cargo.toml'), 'utf8')
  const version = /^wasmtime-wasi = \{ version = "=([\d.]+)"/m.exec(cargo)?.[1]
  assert.ok(version, 'the engine pins wasmtime-wasi')
  const registry = path.join(process.env.CARGO_HOME ?? path.join(homedir(), '.cargo'), 'registry', 'src')
  const index = (await readdir(registry).catch(() => [] as string[]))[0]
  const wit = async (crate: string, dir: string) => {
    const at = path.join(registry, index ?? '-', `${crate}-${version}`, dir)
    const files = await readdir(at).catch(() => undefined)
    if (!files) return undefined
    const found: string[] = []
    for (const f of files.filter((f) => f.endsWith('.wit'))) {
      const text = await readFile(path.join(at, f), 'utf8')
      const pkg = /^package (wasi:[a-z-]+)@([\d.]+);/m.exec(text)!
      assert.equal(pkg[2], '0.2.12', `${crate} ${f}: the package version this list was read at`)
      // An interface marked @unstable on the line before is not linked by default.
      for (const m of text.matchAll(/^(@\S+.*)\ninterface ([a-z-]+) \{/gm))
        if (!m[1]!.startsWith('@unstable')) found.push(`${pkg[1]}/${m[2]}`)
    }
    return found
  }
  const wasi = await wit('wasmtime-wasi', 'src/p2/wit/deps')
  const http = await wit('wasmtime-wasi-http', 'wit/deps')
  if (!wasi || !http) return t.skip(`no wasmtime-wasi ${version} sources under ${registry}`)
  const exports = ['wasi:cli/run', 'wasi:http/incoming-handler']
  const provided = [...new Set([...wasi, ...http])].filter((i) => !exports.includes(i))
  assert.deepEqual([...ENGINE_INTERFACES].sort(), provided.sort())
})

test("the engine's own interfaces: exactly the versions its WIT declares", async () => {
  assert.equal(engineProvides('lean:text/fonts@0.1.0'), true)
  for (const no of ['lean:text/fonts@0.1.1', 'lean:text/fonts', 'lean:text/other@0.1.0']) assert.equal(engineProvides(no), false, no)
  const wit = await readFile(path.join(repo, 'task-driver', 'engine', 'wit', 'text', 'fonts.wit'), 'utf8')
  const pkg = /^package ([a-z-]+:[a-z-]+)@([\d.]+);/m.exec(wit)!
  const interfaces = [...wit.matchAll(/^interface ([a-z-]+) \{/gm)].map((m) => `${pkg[1]}/${m[1]}@${pkg[2]}`)
  assert.deepEqual([...ENGINE_OWN_INTERFACES], interfaces)
})
