import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseCommandLine, parseDuration } from '../../../cli/args.ts'
import { UsageError } from '../../../cli/errors.ts'

function usageError(argv: string[]): string {
  try {
    parseCommandLine(argv)
  } catch (err) {
    assert.ok(err instanceof UsageError, `${argv.join(' ')}: ${String(err)}`)
    assert.equal(err.code, 'LEAN_ERR_CLI_USAGE')
    assert.equal(err.exitCode, 2)
    return err.message
  }
  assert.fail(`expected a usage error for: ${argv.join(' ')}`)
}

test('commands and their options', () => {
  assert.deepEqual(parseCommandLine(['apply', '-f', 'apps/pdf.json']), {
    name: 'apply',
    file: 'apps/pdf.json',
    app: 'pdf',
  })
  assert.deepEqual(parseCommandLine(['apply', '-f', 'x.yaml', '--name', 'email']), {
    name: 'apply',
    file: 'x.yaml',
    app: 'email',
  })
  assert.deepEqual(parseCommandLine(['validate', '--file=-', '--name=email']), {
    name: 'validate',
    file: '-',
    app: 'email',
  })
  assert.deepEqual(parseCommandLine(['get', 'pdf']), { name: 'get', app: 'pdf', output: 'json' })
  assert.deepEqual(parseCommandLine(['get', 'pdf', '-o', 'yaml']), {
    name: 'get',
    app: 'pdf',
    output: 'yaml',
  })
  assert.deepEqual(parseCommandLine(['status']), { name: 'status' })
  assert.deepEqual(parseCommandLine(['status', 'pdf']), { name: 'status', app: 'pdf' })
  assert.deepEqual(parseCommandLine(['delete', 'pdf']), { name: 'delete', app: 'pdf' })
  assert.deepEqual(parseCommandLine(['wait', 'pdf']), {
    name: 'wait',
    app: 'pdf',
    for: 'running',
    timeout: { ms: 300_000, text: '5m' },
  })
  assert.deepEqual(parseCommandLine(['wait', 'pdf', '--for', 'running', '--timeout', '1m30s']), {
    name: 'wait',
    app: 'pdf',
    for: 'running',
    timeout: { ms: 90_000, text: '1m30s' },
  })
  for (const argv of [['--help'], ['-h'], ['help'], ['apply', '--help'], ['wait', '-h']])
    assert.deepEqual(parseCommandLine(argv), { name: 'help' })
})

test('usage errors name what is wrong', () => {
  assert.equal(usageError([]), 'no command given')
  assert.equal(usageError(['deploy']), "unknown command 'deploy'")
  assert.equal(usageError(['apply']), 'apply: -f <file.json|file.yaml|-> is required')
  assert.match(usageError(['apply', '-f']), /^apply: Option '-f, --file <value>' argument missing/)
  assert.equal(usageError(['apply', '-f', 'pdf.json', '--force']), "apply: Unknown option '--force'")
  assert.match(usageError(['apply', '-f', 'pdf.json', 'extra']), /^apply: .*'extra'/)
  assert.equal(
    usageError(['apply', '-f', '-']),
    '--name <app> is required when the document comes from stdin (-f -)',
  )
  assert.match(
    usageError(['apply', '-f', 'pdf.txt']),
    /^-f: expected a \.json, \.yaml or \.yml file or - \(stdin\), got 'pdf\.txt'/,
  )
  assert.match(
    usageError(['apply', '-f', 'My_App.json']),
    /^the app name from the file name My_App\.json \(or pass --name\): 'My_App' is not an app name/,
  )
  assert.match(usageError(['validate', '-f', 'x.json', '--name', 'Bad']), /^--name: 'Bad' is not an app name/)
  assert.equal(usageError(['get']), 'get: missing <app>')
  assert.equal(usageError(['get', 'a', 'b']), "get: unexpected argument 'b'")
  assert.equal(usageError(['get', 'pdf', '-o', 'table']), "get: -o: expected json or yaml, got 'table'")
  assert.match(usageError(['get', '../status/pdf']), /^get: '..\/status\/pdf' is not an app name/)
  assert.equal(usageError(['delete']), 'delete: missing <app>')
  assert.equal(usageError(['status', 'a', 'b']), "status: unexpected argument 'b'")
  assert.equal(
    usageError(['wait', 'pdf', '--for', 'deleted']),
    "wait: --for: expected running, got 'deleted'",
  )
  assert.match(usageError(['wait', 'pdf', '--timeout', '5']), /^--timeout: expected a duration such as "500ms", "30s", "2m" or "1h30m", got "5"$/)
})

test('durations: Go-style units, more than zero, at most a day', () => {
  assert.equal(parseDuration('500ms'), 500)
  assert.equal(parseDuration('2h'), 7_200_000)
  assert.equal(parseDuration('1h30m10s'), 5_410_000)
  for (const bad of ['0s', '25h', '5 m', '-1s', '1d', ''])
    assert.throws(() => parseDuration(bad), UsageError, bad)
})

test('component commands', () => {
  assert.deepEqual(parseCommandLine(['component', 'push', 'build/svc.wasm']), { name: 'component-push', file: 'build/svc.wasm' })
  assert.deepEqual(parseCommandLine(['component', 'push', '--help']), { name: 'help' })
  assert.equal(usageError(['component']), 'component: missing push')
  assert.equal(usageError(['component', 'upload', 'x.wasm']), "component: unknown command 'upload'; expected one of push")
  assert.equal(usageError(['component', 'push']), 'component push: missing <file.wasm>')
  assert.equal(usageError(['component', 'push', 'svc.js']), "component push: expected a component (<file>.wasm), got 'svc.js'")
})

test('vm and image commands', () => {
  assert.deepEqual(parseCommandLine(['vm', 'list']), { name: 'vm-list', output: 'table' })
  assert.deepEqual(parseCommandLine(['vm', 'get', 'web', '-o', 'yaml']), {
    name: 'vm-get',
    vm: 'web',
    output: 'yaml',
  })
  assert.deepEqual(parseCommandLine(['vm', 'get', 'web']), { name: 'vm-get', vm: 'web', output: 'text' })
  assert.deepEqual(parseCommandLine(['vm', 'apply', 'vms/web.yaml']), {
    name: 'vm-apply',
    file: 'vms/web.yaml',
    vm: 'web',
  })
  assert.deepEqual(parseCommandLine(['vm', 'apply', '-f', 'x.json', '--name', 'db']), {
    name: 'vm-apply',
    file: 'x.json',
    vm: 'db',
  })
  assert.deepEqual(parseCommandLine(['vm', 'stop', 'web']), { name: 'vm-stop', vm: 'web' })
  assert.deepEqual(parseCommandLine(['vm', 'start', 'web']), { name: 'vm-start', vm: 'web' })
  assert.deepEqual(parseCommandLine(['vm', 'delete', 'web']), { name: 'vm-delete', vm: 'web' })
  assert.deepEqual(parseCommandLine(['image', 'list', '-o', 'json']), { name: 'image-list', output: 'json' })
  assert.deepEqual(parseCommandLine(['image', 'upload', 'store/ab.json']), {
    name: 'image-upload',
    file: 'store/ab.json',
  })
  assert.deepEqual(parseCommandLine(['vm', 'list', '--help']), { name: 'help' })

  assert.equal(usageError(['vm']), 'vm: missing list, get, apply, start, stop, delete')
  assert.equal(
    usageError(['vm', 'reboot', 'web']),
    "vm: unknown command 'reboot'; expected one of list, get, apply, start, stop, delete",
  )
  assert.equal(usageError(['image', 'rm']), "image: unknown command 'rm'; expected one of list, upload")
  assert.equal(usageError(['vm', 'get']), 'vm get: missing <vm>')
  assert.equal(
    usageError(['vm', 'get', 'web', '-o', 'table']),
    "vm get: -o: expected text, json, yaml, got 'table'",
  )
  assert.equal(
    usageError(['vm', 'list', '-o', 'text']),
    "vm list: -o: expected table, json, yaml, got 'text'",
  )
  assert.match(usageError(['vm', 'stop', 'Web']), /^vm stop: 'Web' is not an app name/)
  assert.equal(
    usageError(['vm', 'apply']),
    'vm apply: expected one file: <file.json|file.yaml|-> or -f <file>',
  )
  assert.equal(
    usageError(['vm', 'apply', 'a.json', '-f', 'b.json']),
    'vm apply: expected one file: <file.json|file.yaml|-> or -f <file>',
  )
  assert.equal(
    usageError(['vm', 'apply', '-']),
    '--name <app> is required when the document comes from stdin (-f -)',
  )
  assert.equal(
    usageError(['image', 'upload', 'x.qcow2']),
    "image upload: expected an image manifest (<sha256>.json), got 'x.qcow2'",
  )
})
