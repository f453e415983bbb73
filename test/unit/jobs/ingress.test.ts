import assert from 'node:assert/strict'
import { test } from 'node:test'
import { META_OWNER, ownedBy, parseAppSpec } from '../../../jobs/app-spec.ts'
import { renderVmJob } from '../../../jobs/vm.ts'
import { renderWasmServiceJob } from '../../../jobs/wasm-service.ts'
import { INGRESS } from './app-document-examples.ts'
import {
  HAPROXY_BIN,
  INGRESS_JOB,
  INGRESS_OWNER,
  INGRESS_VERSION,
  META_INGRESS_HASH,
  META_INGRESS_OWNER,
  META_INGRESS_VERSION,
  haproxyTemplate,
  ingressTags,
  ingressUrl,
  renderIngressJob,
} from '../../../jobs/ingress.ts'

const settings = { port: 8088, consulDns: '127.0.0.1:8600', namespace: 'lean-system' }

test("the ingress is a system job running Debian's HAProxy on the fixed port, reloaded by SIGUSR2", () => {
  const job = renderIngressJob(settings)
  assert.equal(job.ID, INGRESS_JOB)
  assert.equal(job.Type, 'system')
  assert.equal(
    job.Namespace,
    'lean-system',
    "in the cloud's system namespace, the only one that allows raw_exec",
  )
  const group = job.TaskGroups[0]!
  assert.deepEqual(group.Networks, [{ ReservedPorts: [{ Label: 'http', Value: 8088 }] }])
  const task = group.Tasks[0]!
  assert.equal(task.Driver, 'raw_exec')
  assert.equal(task.User, 'nobody', 'HAProxy needs no root')
  assert.deepEqual(task.Config, {
    command: HAPROXY_BIN,
    args: ['-W', '-db', '-f', '${NOMAD_TASK_DIR}/haproxy.cfg'],
  })
  const template = task.Templates[0]!
  assert.equal(template.DestPath, 'local/haproxy.cfg')
  assert.equal(template.ChangeMode, 'signal')
  assert.equal(template.ChangeSignal, 'SIGUSR2')
  assert.equal(task.KillSignal, 'SIGUSR1', "HAProxy's soft stop")
  assert.equal(group.Services[0]!.Checks[0]!.Path, '/.lean-ingress/health')
})

test("the ingress job is marked as the cloud's but never as an app job, with the hash of its settings", () => {
  const job = renderIngressJob(settings)
  assert.equal(job.Meta[META_INGRESS_OWNER], INGRESS_OWNER)
  assert.equal(META_INGRESS_OWNER, META_OWNER)
  assert.equal(
    ownedBy(job.Meta, 'lean-cloud/apps/'),
    false,
    'no apps controller takes it for one of its jobs',
  )
  assert.equal(job.Meta[META_INGRESS_HASH], renderIngressJob({ ...settings }).Meta[META_INGRESS_HASH])
  assert.notEqual(
    job.Meta[META_INGRESS_HASH],
    renderIngressJob({ ...settings, port: 9088 }).Meta[META_INGRESS_HASH],
  )
  assert.throws(() => renderIngressJob({ ...settings, port: 0 }), /ingress\.port/)
  assert.throws(() => renderIngressJob({ ...settings, consulDns: 'dns' }), /ingress\.consulDns/)
})

test('the render of this INGRESS_VERSION is pinned: a change to the job needs a new version', () => {
  // cloud:up leaves an ingress a newer version rendered alone;
  // that only works if every change to the rendered job comes with a new version.
  const job = renderIngressJob(settings)
  assert.equal(job.Meta[META_INGRESS_VERSION], String(INGRESS_VERSION))
  assert.deepEqual(
    { version: INGRESS_VERSION, hash: job.Meta[META_INGRESS_HASH] },
    { version: 2, hash: '4abd2deca84fbf03e41d97e06a59eb4e9f242a32de6a43669d3febc86e8946d4' },
    'the rendered ingress job changed: bump INGRESS_VERSION in jobs/ingress.ts and pin the new hash here',
  )
})

test('haproxy.cfg: instances from Consul SRV, retries and redispatch, one backend per tagged service, routed by host', () => {
  const cfg = haproxyTemplate('127.0.0.1:9600')
  for (const line of [
    'nameserver consul 127.0.0.1:9600',
    'option redispatch',
    'retries 3',
    'retry-on conn-failure empty-response',
    'option idle-close-on-response',
    'bind {{ env "NOMAD_ADDR_http" }}',
    'http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    'default_backend no-app',
    'server-template i 64 _{{ $service }}._tcp.service.consul resolvers consul resolve-opts allow-dup-ip init-addr none check',
  ])
    assert.ok(cfg.includes(line), `haproxy.cfg has: ${line}`)
  assert.match(
    cfg,
    /use_backend app-\{\{ \$service \}\} if \{ var\(txn\.host\) -m str \{\{ .* \}\}\.lean\.localhost \}/,
  )
  assert.match(cfg, /\.Tags \| contains "lean-ingress"/)
  // Go string literals inside the template take no backslash escapes.
  for (const literal of cfg.match(/"[^"\n]*"/g) ?? [])
    if (literal.includes('regex')) assert.doesNotMatch(literal, /\\/)
})

test('an app asks for the ingress in its document; its service gets the tags, a shutdown delay and checked updates', () => {
  const doc = (d: object) => JSON.stringify(d)
  const plain = parseAppSpec('pdf', doc(INGRESS.plain))
  assert.ok(plain.kind === 'wasm-service' && plain.service.ingress === undefined)
  assert.equal(renderWasmServiceJob(plain.service).TaskGroups[0]!.Services[0]!.Tags, undefined)

  const on = parseAppSpec('pdf', doc(INGRESS.on))
  assert.ok(on.kind === 'wasm-service')
  assert.deepEqual(on.service.ingress, { host: 'pdf' })
  const group = renderWasmServiceJob(on.service).TaskGroups[0]!
  assert.deepEqual(group.Services[0]!.Tags, [
    'lean-ingress',
    'lean-ingress-host=pdf',
    'lean-ingress-check=/health',
  ])
  assert.equal(group.ShutdownDelay, 5e9)
  assert.equal(group.Update.HealthCheck, 'checks')
  assert.equal(group.Update.MaxParallel, 2, 'a third of 6 at a time')

  const named = parseAppSpec('pdf', doc(INGRESS.named))
  assert.ok(named.kind === 'wasm-service')
  assert.deepEqual(renderWasmServiceJob(named.service).TaskGroups[0]!.Services[0]!.Tags, [
    'lean-ingress',
    'lean-ingress-host=docs',
    'lean-ingress-check=/ready',
  ])
  const byService = parseAppSpec('pdf', doc(INGRESS.byService))
  assert.ok(
    byService.kind === 'wasm-service' && byService.service.ingress?.host === 'pdf-svc',
    'the host defaults to the service name',
  )
  assert.equal(parseAppSpec('pdf', doc(INGRESS.off)).kind, 'wasm-service')
})

test('bad ingress fields are named', () => {
  const problem = (name: string, d: unknown) => {
    try {
      parseAppSpec(name, JSON.stringify(d))
    } catch (err) {
      return (err as Error).message
    }
    return 'accepted'
  }
  for (const { name, doc, reason } of INGRESS.refusals) assert.match(problem(name, doc), reason)
  assert.equal(problem('pdf', INGRESS.queryCheck), 'accepted')
})

test('a vm app with a service may ask for the ingress; one without a service may not', () => {
  const vm = parseAppSpec('hello-vm', JSON.stringify(INGRESS.vmHttp))
  assert.ok(vm.kind === 'vm')
  const services = renderVmJob(vm.vm).TaskGroups[0]!.Tasks[0]!.Services
  assert.deepEqual(services[0]!.Tags, ['lean-ingress', 'lean-ingress-host=hello-vm', 'lean-ingress-check=/'])
  const tcp = parseAppSpec('hello-vm', JSON.stringify(INGRESS.vmTcp))
  assert.ok(tcp.kind === 'vm')
  assert.deepEqual(renderVmJob(tcp.vm).TaskGroups[0]!.Tasks[0]!.Services[0]!.Tags, [
    'lean-ingress',
    'lean-ingress-host=hi',
  ])
  const { name, doc, reason } = INGRESS.vmWithoutService
  assert.throws(() => parseAppSpec(name, JSON.stringify(doc)), reason)
})

test('tags and URLs', () => {
  assert.deepEqual(ingressTags({ host: 'pdf' }, undefined), ['lean-ingress', 'lean-ingress-host=pdf'])
  assert.throws(() => ingressTags({ host: '-pdf' }, undefined), /ingress\.host/)
  assert.equal(ingressUrl('pdf', 8088), 'http://pdf.lean.localhost:8088/')
})
