// The example app documents of the validator's unit tests (app-spec, vm,
// placement and ingress tests), in one place: each test reads its documents
// from here, and app-document-schema.test.ts checks every one against both
// the validator and the published JSON Schema. A refusal the schema cannot
// see names the rule it is refused for (RULES_BEYOND_SCHEMA).
import type { AppLimits } from '../../../jobs/app-limits.ts'
import type { RuleBeyondSchemaId } from '../../../jobs/document-fields.ts'

/** A document as a test stores it for app `name`: a JSON value, or (a string) the raw text. */
export interface Example {
  readonly name: string
  readonly doc: unknown
  /** The cloud's ceilings it is validated within; the defaults when absent. */
  readonly limits?: AppLimits
}

export interface Refusal<R extends RegExp | string = RegExp | string> extends Example {
  /** What the refusal says: a pattern, or the whole message. */
  readonly reason: R
  /** The rule it is refused for that no JSON Schema can state. */
  readonly beyondSchema?: RuleBeyondSchemaId
}

const ok = (name: string, doc: unknown, limits?: AppLimits): Example => ({
  name,
  doc,
  ...(limits && { limits }),
})
const no = <R extends RegExp | string>(
  name: string,
  doc: unknown,
  reason: R,
  beyondSchema?: RuleBeyondSchemaId,
): Refusal<R> => ({
  name,
  doc,
  reason,
  ...(beyondSchema && { beyondSchema }),
})

// ---- test/unit/jobs/app-spec.test.ts ----------------------------------------

const cd = 'cd'.repeat(32)
const valid = {
  kind: 'wasm-service',
  component: { sha256: cd },
  count: 3,
  port: 'dynamic',
  grants: { buckets: ['cloud-pdfs'], mail: ['example.com'] },
}
const vmOfCd = { kind: 'vm', image: { sha256: cd } }
const withSource = (value: string) => ({ ...valid, component: { sha256: cd, source: value } })
const ceilings: AppLimits = {
  maxRequestBodyBytes: 1024 ** 2,
  maxVmVcpus: 2,
  maxVmMemoryBytes: 1024 ** 3,
  maxVmDiskBytes: 10 * 1024 ** 3,
}
const RESERVED = ['consul', 'nomad', 'lean-controller', 'lean-ingress']

export const APP_SPEC = {
  sha256: cd,
  valid,
  /** Accepted as `email`. */
  validCount4: { ...valid, count: 4 },
  vm: { kind: 'vm', image: { sha256: cd }, vcpus: 2 },
  literal: {
    ...valid,
    component: { sha256: cd, source: 'https://components.example.com/${attr.unique.hostname}.wasm' },
    env: {
      HOST: '${attr.unique.hostname}',
      TOKEN: '${NOMAD_TOKEN}',
      TEMPLATE: '%{ if true }x%{ endif }',
      PEM: 'line one\nline two\n',
    },
  },
  /** Every problem names the field and the reason. */
  problems: [
    no('x', '{nope', /^\$: not valid JSON/),
    no('x', [], /^\$: expected an object/),
    no('x', { ...valid, kind: 'container' }, /^kind: expected "wasm-service", got "container"/),
    no('x', { ...valid, count: '3' }, /^count: expected a whole number from 0 to 1000/),
    no('x', { ...valid, count: 1e9 }, /^count: expected a whole number/),
    no('x', { ...valid, colour: 'red' }, /^colour: unknown field/),
    no('x', { ...valid, component: { sha256: 'abc' } }, /^component\.sha256: expected 64 lower-case/),
    no('x', { ...valid, port: { static: 70000 } }, /^port\.static: expected a whole number from 1 to 65535/),
    no(
      'x',
      { ...valid, limits: { requestTimeout: 'soon' } },
      /^limits\.requestTimeout: expected a duration/,
      'sizes-and-durations',
    ),
    no('x', { ...valid, env: { 'BAD-NAME': 'v' } }, /^env\.BAD-NAME: not a valid variable name/),
    no('Bad_Name', valid, /^name: /, 'app-name'),
    no('x', { ...valid, env: { A: 'x'.repeat(70_000) } }, /^\$: document of \d+ bytes is over the limit/),
  ],
  vmProblems: [
    no('web', { kind: 'vm' }, /^image: required/),
    no('web', { kind: 'vm', image: { sha256: cd }, component: { sha256: cd } }, /^component: unknown field/),
  ],
  /** Values reach the Nomad job as text; control characters are refused. */
  controlCharacters: [
    no(
      'x',
      { ...valid, env: { A: 'nul\u0000here' } },
      /^env\.A: contains the control character U\+0000 at offset 3/,
    ),
    no('x', { ...valid, env: { A: 'bell\u0007' } }, /^env\.A: contains the control character U\+0007/),
    no('x', { ...valid, env: { A: 'c1\u0085' } }, /^env\.A: contains the control character U\+0085/),
    no(
      'x',
      { ...valid, component: { sha256: cd, source: '/opt/x\u0000.wasm' } },
      /^component\.source: contains the control character U\+0000/,
    ),
    no(
      'x',
      { ...valid, service: { checkPath: '/${NOMAD_TOKEN}' } },
      /^service\.checkPath: expected a path starting with \//,
    ),
  ],
  nested: no(
    'team/pdf',
    valid,
    /^name: a key below the apps prefix names one app, with no further "\/": "team\/pdf" is nested/,
    'app-name',
  ),
  /** Accepted as `ok`, each its own component.source. */
  sources: [
    `s3://artifacts/components/${cd}.wasm`,
    'https://components.example.com/hello.wasm',
    'http://components.example.com:8080/c/hello.wasm?v=1',
    '/srv/components/hello.wasm',
  ].map((value) => ok('ok', withSource(value))),
  /** Refused as `x`: component.source and why. */
  sourceRefusals: (
    [
      [
        `s3://artifacts/components/${'ef'.repeat(32)}.wasm`,
        /only s3:\/\/artifacts\/components\/(cd){32}\.wasm/,
      ],
      [`s3://other-bucket/components/${cd}.wasm`, /the artifacts object named by the component's sha256/],
      ['s3://artifacts/hello.wasm', /may be fetched from S3/],
      ['/srv/components/../../etc/hostname', /no \., \.\. or empty segments/],
      ['/srv//hello.wasm', /no \., \.\. or empty segments/],
      ['/srv/components/', /a file/],
      [
        'relative/hello.wasm',
        /expected s3:\/\/artifacts\/components\/(cd){32}\.wasm, an http\(s\):\/\/ URL or an absolute path/,
      ],
      ['file:///etc/hostname', /expected s3:\/\/artifacts/],
      ['ftp://example.com/c.wasm', /expected s3:\/\/artifacts/],
      ['https://user:secret@example.com/c.wasm', /credentials/],
      ['http://[zz]/c.wasm', /not a valid http\(s\) URL/],
      ['/srv/hello world.wasm', /white space/],
    ] as const
  ).map(([value, reason]) => ({ value, ...no('x', withSource(value), reason, 'component-source') })),
  /** The cloud's own names are no app's. */
  reservedNames: [
    ...RESERVED.flatMap((name) => [
      no(
        'x',
        { ...valid, service: { name } },
        new RegExp(`^service\\.name: "${name}" is reserved for the cloud's own services`),
      ),
      no('x', { ...valid, ingress: { host: name } }, new RegExp(`^ingress\\.host: "${name}" is reserved`)),
    ]),
    // An app named like a reserved name takes it as its default service name: refused too.
    no('consul', valid, /^service\.name: "consul" is reserved/, 'app-name'),
    no(
      'x',
      { kind: 'vm', image: { sha256: cd }, ports: { http: 80 }, service: { name: 'nomad', port: 'http' } },
      /^service\.name: "nomad" is reserved/,
    ),
  ],
  /** Within the validator's ranges but over these ceilings. */
  ceilings,
  ceilingRefusals: [
    no(
      'x',
      { ...valid, limits: { maxRequestBody: '8GiB' } },
      "limits.maxRequestBody: 8GiB is over this cloud's ceiling of 1048576 (LEAN_LIMIT_REQUEST_BODY)",
      'ceilings',
    ),
    no(
      'x',
      { ...vmOfCd, vcpus: 64 },
      /^vcpus: 64 vCPUs is over this cloud's ceiling of 2 \(LEAN_LIMIT_VM_VCPUS\)/,
      'ceilings',
    ),
    no('x', { ...vmOfCd, memory: '999999GiB' }, /^memory: /, 'sizes-and-durations'),
    no(
      'x',
      { ...vmOfCd, memory: '4GiB' },
      /^memory: 4GiB is over this cloud's ceiling of 1073741824 \(LEAN_LIMIT_VM_MEMORY\)/,
      'ceilings',
    ),
    no(
      'x',
      { ...vmOfCd, disk: { size: '64TiB' } },
      /^disk\.size: .*LEAN_LIMIT_VM_DISK|^disk\.size: expected/,
      'ceilings',
    ),
  ].map((r) => ({ ...r, limits: ceilings })),
  withinCeilings: ok('x', { ...vmOfCd, vcpus: 2, memory: '1GiB', disk: { size: '10GiB' } }, ceilings),
  mail: {
    refused: [
      no(
        'x',
        { ...valid, grants: { mail: true } },
        /^grants\.mail: name the recipients or domains this app may mail/,
      ),
      no(
        'x',
        { ...valid, grants: { mail: ['not an address'] } },
        /^grants\.mail\[0\]: "not an address" is not an e-mail address or a domain/,
      ),
    ],
    none: { ...valid, grants: { mail: false } },
  },
  outbound: {
    /** Accepted as `caller`. */
    granted: {
      ...valid,
      grants: { outbound: ['http://email.service.consul', 'https://API.example.com:8443/'] },
    },
    refused: [
      no(
        'caller',
        { ...valid, grants: { outbound: ['http://169.254.169.254'] } },
        /^grants\.outbound\[0\]: 169\.254\.169\.254 is the node itself or a link-local address/,
        'outbound-grants',
      ),
      no(
        'caller',
        { ...valid, grants: { outbound: ['http://a.example', 'http://A.example/'] } },
        /^grants\.outbound\[1\]: http:\/\/a\.example is granted twice/,
        'outbound-grants',
      ),
      no('caller', { ...valid, grants: { outbound: 'http://a.example' } }, /^grants\.outbound: /),
      no(
        'caller',
        { ...valid, grants: { services: ['email'] } },
        /^grants\.services: replaced by grants\.outbound: grant "http:\/\/<name>\.service\.consul"/,
      ),
    ],
  },
}

// ---- test/unit/jobs/vm.test.ts ------------------------------------------------

const ab = 'ab'.repeat(32)
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4n1nRkGp6l0CwAD7eqv1uYy7q8m9bGq3o0ZxkR7Xwz ops@lean'
const userData =
  '#cloud-config\npackages: [nginx]\nruncmd:\n  - echo "${HOSTNAME}" > /var/www/html/index.html\n'
const doc = {
  kind: 'vm',
  image: { sha256: ab, source: `s3://artifacts/images/${ab}.json` },
  vcpus: 2,
  memory: '2GiB',
  disk: { size: '20GiB' },
  cloudInit: { hostname: 'web-1', userData, sshAuthorizedKeys: [key], commands: ['echo ${USER} > /tmp/who'] },
  ports: { ssh: 22, http: 8080 },
  service: { port: 'http', checkPath: '/health', checkIntervalSeconds: 5 },
  count: 2,
  datacenters: ['dc1'],
}

export const VM = {
  sha256: ab,
  key,
  userData,
  /** Accepted as `web`, as are the variants below. */
  doc,
  stopped: { ...doc, state: 'stopped' },
  running: { ...doc, state: 'running' },
  cpu10: { ...doc, cpu: 10 },
  cpu4000: { ...doc, cpu: 4000 },
  vcpus4: { ...doc, vcpus: 4 },
  egress: { ...doc, egress: ['email', 'pdf'] },
  noEgress: { ...doc, egress: [] },
  /** Accepted as `tiny`: every default. */
  tiny: { kind: 'vm', image: { sha256: ab } },
  /** Accepted as `web`. */
  namedService: {
    kind: 'vm',
    image: { sha256: ab },
    ports: { http: 80 },
    service: { name: 'site', port: 'http' },
  },
  /** Refused as `web`: every problem names the field and the reason. */
  problems: [
    no('web', { ...doc, image: undefined }, /^image: required/),
    no('web', { ...doc, image: '/srv/images/base.qcow2' }, /^image: expected an object/),
    no('web', { ...doc, image: {} }, /^image\.sha256: required/),
    no(
      'web',
      { ...doc, image: { sha256: 'AB'.repeat(32) } },
      /^image\.sha256: expected 64 lower-case hexadecimal/,
    ),
    no(
      'web',
      { ...doc, image: { sha256: ab, source: 'https://x/y.json' } },
      /^image\.source: expected s3:\/\/<bucket>\/<key> or an absolute path/,
      'image-source',
    ),
    no(
      'web',
      { ...doc, image: { sha256: ab, source: `/srv/../images/${ab}.json` } },
      /^image\.source: expected s3/,
      'image-source',
    ),
    no(
      'web',
      { ...doc, image: { sha256: ab, source: `s3://artifacts/images/${'cd'.repeat(32)}.json` } },
      /^image\.source: expected the manifest named by image\.sha256/,
      'image-source',
    ),
    no(
      'web',
      { ...doc, image: { sha256: ab, digest: ab } },
      /^image\.digest: unknown field \(allowed: sha256, source\)/,
    ),
    no('web', { ...doc, vcpus: 0 }, /^vcpus: expected a whole number from 1 to 64/),
    no('web', { ...doc, vcpus: 65 }, /^vcpus: expected a whole number from 1 to 64/),
    no(
      'web',
      { ...doc, memory: 'lots' },
      /^memory: expected a size such as "512KiB" or "64MiB", got "lots"/,
      'sizes-and-durations',
    ),
    no('web', { ...doc, memory: '32MiB' }, /^memory: expected from 64MiB to 1024GiB/, 'sizes-and-durations'),
    no(
      'web',
      { ...doc, memory: '1025GiB' },
      /^memory: expected from 64MiB to 1024GiB/,
      'sizes-and-durations',
    ),
    no('web', { ...doc, memory: 2048 }, /^memory: expected a string/),
    no('web', { ...doc, disk: { size: 'huge' } }, /^disk\.size: expected a size/, 'sizes-and-durations'),
    no('web', { ...doc, disk: {} }, /^disk\.size: required/),
    no(
      'web',
      { ...doc, disk: { size: '10GiB', thinCopy: true } },
      /^disk\.thinCopy: unknown field \(allowed: size\)/,
    ),
    no(
      'web',
      { ...doc, disks: { primarySize: '10GiB' } },
      /^disks: unknown field \(allowed: kind, image, vcpus, cpu, memory, disk, cloudInit, ports, service, state, count, datacenters, ingress, egress, spread, constraints\)/,
    ),
    no('web', { ...doc, network: { bridge: 'virbr0' } }, /^network: unknown field/),
    no(
      'web',
      { ...doc, cloudInit: { password: 'secret123' } },
      /^cloudInit\.password: unknown field \(allowed: hostname, userData, sshAuthorizedKeys, commands\)/,
    ),
    no(
      'web',
      { ...doc, cloudInit: { sshAuthorizedKey: key } },
      /^cloudInit\.sshAuthorizedKey: unknown field/,
    ),
    no('web', { ...doc, cloudInit: { hostname: '-web' } }, /^cloudInit\.hostname: expected a host name/),
    no(
      'web',
      { ...doc, cloudInit: { hostname: 'a'.repeat(64) } },
      /^cloudInit\.hostname: expected a host name/,
    ),
    no('web', { ...doc, cloudInit: { hostname: 'web_1' } }, /^cloudInit\.hostname: expected a host name/),
    no(
      'web',
      { ...doc, cloudInit: { userData: `#cloud-config\n${'a'.repeat(33 * 1024)}` } },
      /^cloudInit\.userData: \d+ bytes is over the limit of 32768/,
    ),
    no(
      'web',
      { ...doc, cloudInit: { userData: 'runcmd: [ls]\n' } },
      /^cloudInit\.userData: expected cloud-config text/,
    ),
    no('web', { ...doc, cloudInit: { userData: 42 } }, /^cloudInit\.userData: expected a string/),
    no(
      'web',
      { ...doc, cloudInit: { sshAuthorizedKeys: key } },
      /^cloudInit\.sshAuthorizedKeys: expected a list/,
    ),
    no(
      'web',
      { ...doc, cloudInit: { sshAuthorizedKeys: [key, `${key}\nssh-rsa AAAA`] } },
      /^cloudInit\.sshAuthorizedKeys\[1\]: contains the control character U\+000A at offset \d+/,
    ),
    no(
      'web',
      { ...doc, cloudInit: { userData: '#cloud-config\nx: "\u0000"\n' } },
      /^cloudInit\.userData: contains the control character U\+0000/,
    ),
    no(
      'web',
      { ...doc, service: { name: 'web', port: 'http', checkPath: '/${NOMAD_TOKEN}' } },
      /^service\.checkPath: expected a path starting with \//,
    ),
    no(
      'web',
      { ...doc, cloudInit: { commands: ['ok', ''] } },
      /^cloudInit\.commands\[1\]: expected a non-empty command on one line/,
    ),
    no(
      'web',
      { ...doc, cloudInit: { commands: ['a\nb'] } },
      /^cloudInit\.commands\[0\]: contains the control character U\+000A at offset 1/,
    ),
    no('web', { ...doc, cloudInit: { commands: [1] } }, /^cloudInit\.commands\[0\]: expected a string/),
    no('web', { ...doc, ports: { ssh: 0 } }, /^ports\.ssh: expected a whole number from 1 to 65535/),
    no(
      'web',
      { ...doc, ports: { 'Bad-Label': 22 } },
      /^ports\.Bad-Label: a port label is lower-case letters/,
    ),
    no(
      'web',
      { ...doc, service: { port: 'https' } },
      /^service\.port: expected one of the labels in ports \(ssh, http\)/,
      'service-port',
    ),
    no('web', { ...doc, service: {} }, /^service\.port: required/),
    no(
      'web',
      { ...doc, service: { port: 'http', checkPath: 'health' } },
      /^service\.checkPath: expected a path starting with \//,
    ),
    no(
      'web',
      { ...doc, service: { port: 'http', checkIntervalSeconds: 0 } },
      /^service\.checkIntervalSeconds: expected a whole number from 1 to 3600/,
    ),
    no('web', { ...doc, state: 'paused' }, /^state: expected "running" or "stopped", got "paused"/),
    no('web', { ...doc, count: 101 }, /^count: expected a whole number from 0 to 100/),
    no('web', { ...doc, cpu: 5 }, /^cpu: expected a whole number from 10 to 256000/),
    no('web', { ...doc, cpu: '100' }, /^cpu: expected a whole number from 10 to 256000/),
    no('web', { ...doc, cpu: 256_001 }, /^cpu: expected a whole number from 10 to 256000/),
    no('web', { ...doc, datacenters: [] }, /^datacenters: expected at least one datacenter/),
    no('web', { ...doc, datacenters: ['dc 1'] }, /^datacenters\[0\]: expected a datacenter name/),
    no(
      'web',
      { kind: 'container' },
      /^kind: expected "wasm-service", got "container" \(the other kind is "vm"\)/,
    ),
  ],
  /** Refused as `web`: egress is service names, each once, at most 8, never the cloud's own. */
  egressProblems: (
    [
      ['email', /^egress: expected a list of at most 64 strings/],
      [['email', 'Email'], /^egress\[1\]: expected a Consul service name/],
      [['email', 'x.service.consul'], /^egress\[1\]: expected a Consul service name/],
      [['10.0.2.2'], /^egress\[0\]: expected a Consul service name/],
      [[7], /^egress\[0\]: /],
      [['consul'], /^egress\[0\]: "consul" is reserved for the cloud's own services/],
      [['email', 'nomad'], /^egress\[1\]: "nomad" is reserved/],
      [['email', 'email'], /^egress\[1\]: "email" is granted twice/],
      [Array.from({ length: 9 }, (_, i) => `s${i}`), /^egress: at most 8 services/],
    ] as const
  ).map(([egress, reason]) => no('web', { ...doc, egress }, reason)),
}

// ---- test/unit/jobs/placement.test.ts -----------------------------------------

const wasm = { kind: 'wasm-service', component: { sha256: ab }, count: 6, port: 'dynamic' }
const vm = { kind: 'vm', image: { sha256: ab }, vcpus: 1, memory: '128MiB', ports: { http: 8080 } }
const placed = {
  spread: true,
  constraints: [
    'kvm',
    { attribute: 'meta.rack', operator: '!=', value: 'r1' },
    { attribute: 'node.class', operator: 'is_set' },
  ],
}

export const PLACEMENT = {
  /** Both kinds, each accepted as `app` as it is, with `placed`, and with spread false. */
  kinds: [wasm, vm],
  placed,
  /** Refused for each kind as `app`, added to it. */
  refusals: [
    [{ spread: 'yes' }, /^spread: expected true or false/],
    [{ constraints: 'kvm' }, /^constraints: expected a list/],
    [{ constraints: ['gpu'] }, /^constraints\[0\]: expected an object .* or one of: kvm/],
    [
      { constraints: [{ attribute: 'attr.x', value: '${node.unique.name}' }] },
      /^constraints\[0\]\.value: expected 1 to 200 printable characters, without "\$\{"/,
    ],
    [{ constraints: [{ attribute: 'attr.x', value: '%{x}' }] }, /^constraints\[0\]\.value: /],
    [
      { constraints: [{ attribute: '${attr.x}', value: 'a' }] },
      /^constraints\[0\]\.attribute: expected attr\.<name>/,
    ],
    [{ constraints: [{ attribute: 'env.HOME', value: 'a' }] }, /^constraints\[0\]\.attribute: /],
    [
      { constraints: [{ attribute: 'attr.x', operator: 'contains', value: 'a' }] },
      /^constraints\[0\]\.operator: expected one of =, !=, regexp, version, is_set, is_not_set/,
    ],
    [
      { constraints: [{ attribute: 'attr.x', operator: 'is_set', value: 'a' }] },
      /^constraints\[0\]\.value: is_set takes no value/,
    ],
    [{ constraints: [{ attribute: 'attr.x' }] }, /^constraints\[0\]\.value: /],
    [
      { constraints: [{ attribute: 'attr.x', value: 'a', weight: 5 }] },
      /^constraints\[0\]\.weight: unknown field/,
    ],
    [{ constraints: Array.from({ length: 9 }, () => 'kvm') }, /^constraints: at most 8/],
  ] as Array<[object, RegExp]>,
}

// ---- test/unit/jobs/ingress.test.ts -------------------------------------------

/** A wasm service of six as `pdf`, with `extra`. */
const pdf = (extra: object) => ({ kind: 'wasm-service', component: { sha256: ab }, count: 6, ...extra })
/** A wasm service without a count as `pdf`, with `extra`. */
const pdfOne = (extra: object) => ({ kind: 'wasm-service', component: { sha256: ab }, ...extra })
const vmBase = { kind: 'vm', image: { sha256: 'cd'.repeat(32) }, ports: { http: 8080 } }

export const INGRESS = {
  sha256: ab,
  /** Accepted as `pdf`. */
  plain: pdf({}),
  on: pdf({ ingress: true }),
  named: pdf({ ingress: { host: 'docs' }, service: { name: 'pdf-svc', checkPath: '/ready' } }),
  byService: pdf({ service: { name: 'pdf-svc' }, ingress: true }),
  off: pdf({ ingress: false }),
  queryCheck: pdfOne({ service: { checkPath: '/health?full=1' } }),
  /** Refused as `pdf`. */
  refusals: [
    no('pdf', pdfOne({ ingress: 'yes' }), /^ingress: expected true, false or \{ "host": "<label>" \}/),
    no('pdf', pdfOne({ ingress: { host: 'Bad_Host' } }), /^ingress\.host: expected a DNS label/),
    no('pdf', pdfOne({ ingress: { port: 80 } }), /^ingress\.port: unknown field/),
    no('pdf', pdfOne({ ingress: true, service: { checkPath: '/a b#c' } }), /^service\.checkPath: /),
    no(
      'pdf',
      pdfOne({ ingress: true, service: { checkPath: '/x"y' } }),
      /^service\.checkPath: expected a path starting with \/, of letters, digits/,
    ),
    // Without the ingress too: Nomad registers the check and would fill in `${…}` in its path.
    no(
      'pdf',
      pdfOne({ service: { checkPath: '/${NOMAD_TOKEN}' } }),
      /^service\.checkPath: expected a path starting with \//,
    ),
  ],
  /** Accepted as `hello-vm`. */
  vmHttp: { ...vmBase, service: { port: 'http', checkPath: '/' }, ingress: true },
  vmTcp: { ...vmBase, service: { port: 'http' }, ingress: { host: 'hi' } },
  /** Refused as `hello-vm`: no service to find instances by. */
  vmWithoutService: no('hello-vm', { ...vmBase, ingress: true }, /ingress: needs service/),
}

// ---- All of them ----------------------------------------------------------------

/** Every document the tests above expect parseAppSpec to accept. */
export const ACCEPTED: readonly Example[] = [
  ok('email', APP_SPEC.valid),
  ok('email', APP_SPEC.validCount4),
  ok('web', APP_SPEC.vm),
  ok('lit', APP_SPEC.literal),
  ...APP_SPEC.sources,
  APP_SPEC.withinCeilings,
  ok('x', APP_SPEC.mail.none),
  ok('caller', APP_SPEC.outbound.granted),
  ...[
    VM.doc,
    VM.stopped,
    VM.running,
    VM.cpu10,
    VM.cpu4000,
    VM.vcpus4,
    VM.egress,
    VM.noEgress,
    VM.namedService,
  ].map((d) => ok('web', d)),
  ok('tiny', VM.tiny),
  ...PLACEMENT.kinds.flatMap((d) => [
    ok('app', d),
    ok('app', { ...d, ...placed }),
    ok('app', { ...d, spread: false }),
  ]),
  ...[INGRESS.plain, INGRESS.on, INGRESS.named, INGRESS.byService, INGRESS.off, INGRESS.queryCheck].map((d) =>
    ok('pdf', d),
  ),
  ok('hello-vm', INGRESS.vmHttp),
  ok('hello-vm', INGRESS.vmTcp),
]

/** Every document the tests above expect parseAppSpec to refuse. */
export const REFUSED: readonly Refusal[] = [
  ...APP_SPEC.problems,
  ...APP_SPEC.vmProblems,
  ...APP_SPEC.controlCharacters,
  APP_SPEC.nested,
  ...APP_SPEC.sourceRefusals,
  ...APP_SPEC.reservedNames,
  ...APP_SPEC.ceilingRefusals,
  ...APP_SPEC.mail.refused,
  ...APP_SPEC.outbound.refused,
  ...VM.problems,
  ...VM.egressProblems,
  ...PLACEMENT.kinds.flatMap((d) =>
    PLACEMENT.refusals.map(([extra, reason]) => no('app', { ...d, ...extra }, reason)),
  ),
  ...INGRESS.refusals,
  INGRESS.vmWithoutService,
]
