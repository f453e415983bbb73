// The cloud's ingress: HAProxy (Debian's) as a Nomad system job, one per
// client node, listening on the cloud's fixed ingress port and routing
// `http://<host>.lean.localhost:<port>/` to the passing instances of every
// service whose app asks for it. Pure: no I/O, deterministic output.
//
// Which services: those whose Consul registration carries the tag
// `lean-ingress` (jobs/wasm-service.ts and jobs/vm.ts add it when the app
// document says `"ingress"`), with `lean-ingress-host=<label>` naming the host
// and `lean-ingress-check=<path>` the HTTP check. Nomad's template runner
// (consul-template) renders haproxy.cfg from Consul's catalog: one backend per
// such service. The instances of a backend are not in the file: HAProxy finds
// them itself in Consul DNS SRV records (server-template), so scaling, a new
// version or a dead instance never rewrites the file; only a service that
// appears, goes away or changes its ingress tags does, and then Nomad sends
// SIGUSR2 and HAProxy's master (-W) reloads: the new worker takes over the
// listening socket and the old one finishes its requests.
import { createHash } from 'node:crypto'
import { assertNotReserved } from './app-names.ts'
import { SpecError } from './errors.ts'
import type { NomadJob } from './nomad-job.ts'

/** The ingress job's ID (and its group's and Consul service's name). */
export const INGRESS_JOB = 'lean-ingress'
/** Routed hosts are `<label>.<INGRESS_DOMAIN>`; curl sends every `*.localhost` name to 127.0.0.1. */
export const INGRESS_DOMAIN = 'lean.localhost'
/** The tag that puts a service behind the ingress; with `=<label>` and `-check=<path>` forms below. */
export const INGRESS_TAG = 'lean-ingress'
/** Debian's HAProxy (infra/prerequisites.sh installs it). */
export const HAPROXY_BIN = '/usr/sbin/haproxy'
/** Where HAProxy answers 200 itself, on any host: the ingress's own check. */
export const INGRESS_HEALTH_PATH = '/.lean-ingress/health'
/** Instances of one service the ingress can send to (server-template slots). */
export const INGRESS_SLOTS = 64
/** Job meta: what marks the ingress job as the cloud's (never an app's), and what it was rendered from. */
export const META_INGRESS_OWNER = 'lean-cloud.owner'
export const INGRESS_OWNER = 'lean-cloud/ingress'
/** The mark of an ingress the controller kept before the cloud registered it (retired by cloud:up). */
export const FORMER_INGRESS_OWNER = 'lean-cloud-controller/ingress'
/** The unprivileged user HAProxy runs as: the ingress needs no root (its port is above 1024). */
export const INGRESS_USER = 'nobody'
export const META_INGRESS_HASH = 'lean-cloud.ingress-hash'
/**
 * The renderer's version, in the job's meta: cloud:up never replaces an
 * ingress a newer version rendered. Bump it whenever the rendered job changes;
 * a unit test pins the render of this version.
 */
export const META_INGRESS_VERSION = 'lean-cloud.ingress-version'
export const INGRESS_VERSION = 2

/** A host label: lower-case letters, digits and dashes, not at either end. */
export const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/**
 * Check paths every service accepts: nothing HAProxy's config reads specially
 * (spaces, quotes, #, \\) and nothing Nomad fills in when it registers the
 * check (`${…}`: no $ and no braces).
 */
const CHECK_PATH_CHARS = '[A-Za-z0-9._~/?=&%+,;:@-]*'
export const CHECK_PATH = new RegExp(`^/${CHECK_PATH_CHARS}$`)
export const CHECK_PATH_RULE = 'expected a path starting with /, of letters, digits and ._~/?=&%+,;:@- only'

/** What an app asks of the ingress: the host label it is reached at. */
export interface IngressSpec {
  readonly host: string
}

/** Where the ingress of a cloud listens and finds instances. */
export interface IngressSettings {
  /** The fixed port HAProxy listens on, on each client node's address. */
  readonly port: number
  /**
   * Consul's DNS server: host:port (the cloud's CONSUL_DNS_ADDR), or `{ port }`
   * for the Consul agent on each ingress's own node address (a cluster, where
   * every node runs one: a node never depends on another's DNS).
   */
  readonly consulDns: string | { readonly port: number }
  readonly datacenters?: readonly string[]
  /** The Nomad namespace of the cloud's own jobs: the only one where raw_exec is enabled. */
  readonly namespace: string
}

const SECOND = 1e9 // Nomad durations are nanoseconds

/** The tags that put a service behind the ingress at `<host>.lean.localhost`, checked on `checkPath` (else TCP). */
export function ingressTags(
  ingress: IngressSpec,
  checkPath: string | undefined,
  field = 'ingress',
): string[] {
  if (!HOST_LABEL.test(ingress.host))
    throw new SpecError(
      `${field}.host`,
      'expected a DNS label: lower-case letters, digits and dashes, not at either end (at most 63)',
    )
  assertNotReserved(`${field}.host`, ingress.host)
  if (checkPath !== undefined && !CHECK_PATH.test(checkPath))
    throw new SpecError('service.checkPath', CHECK_PATH_RULE)
  return [
    INGRESS_TAG,
    `${INGRESS_TAG}-host=${ingress.host}`,
    ...(checkPath ? [`${INGRESS_TAG}-check=${checkPath}`] : []),
  ]
}

/** The URL an app is reached at through the ingress on `host:port`. */
export function ingressUrl(hostLabel: string, port: number): string {
  return `http://${hostLabel}.${INGRESS_DOMAIN}:${port}/`
}

// Go template (consul-template, inside Nomad): `services` lists Consul's
// catalog; only names and tags the controller's own renderers could have
// written are used, so a stray registration cannot break the file.
const SERVICE_NAME = '^[a-z][a-z0-9-]{0,62}$'
const HOST_TAG = `^${INGRESS_TAG}-host=[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`
// No backslashes: these are Go string literals inside the template.
const CHECK_TAG = `^${INGRESS_TAG}-check=/${CHECK_PATH_CHARS}$`

/** haproxy.cfg as a Nomad template. */
export function haproxyTemplate(consulDns: IngressSettings['consulDns']): string {
  const nameserver = typeof consulDns === 'string' ? consulDns : `{{ env "NOMAD_IP_http" }}:${consulDns.port}`
  const ingressServices = `{{- range services }}{{- $service := .Name }}{{- if and (.Tags | contains "${INGRESS_TAG}") ($service | regexMatch "${SERVICE_NAME}") }}`
  return `# Rendered by Nomad from Consul's catalog (jobs/ingress.ts); edits are overwritten.
global
    log stdout format iso local0 notice
    maxconn 4096
    # After a reload the old worker finishes its requests, for at most this long.
    hard-stop-after 120s

resolvers consul
    nameserver consul ${nameserver}
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    # An instance missing from answers for 3 s is dropped (a scaled-down one
    # still answers for its 5 s shutdown delay; a check that fails once under
    # load does not empty the backend); an unanswered query keeps the last answer.
    hold obsolete 3s
    hold nx 1s
    hold valid 10s
    hold other 30s
    hold refused 30s
    hold timeout 30s

defaults
    mode http
    log global
    option dontlognull
    option forwardfor
    # On a reload, idle client connections are closed after their next answer,
    # never under a request that is on its way.
    option idle-close-on-response
    # A request whose instance refuses the connection or closes it without an
    # answer goes to another instance, up to three times.
    option redispatch
    retries 3
    retry-on conn-failure empty-response
    timeout connect 2s
    timeout client 90s
    timeout server 90s
    timeout http-request 15s
    timeout http-keep-alive 15s
    timeout queue 15s
    timeout check 3s
    # HAProxy checks every instance itself too (leniently: Consul's checks
    # already decide which instances DNS names), and takes one out at its
    # first refused connection.
    default-server inter 2s fall 3 rise 2 observe layer4 error-limit 1 on-error mark-down

frontend ingress
    bind {{ env "NOMAD_ADDR_http" }}
    monitor-uri ${INGRESS_HEALTH_PATH}
    http-request set-var(txn.host) req.hdr(host),field(1,:),lower
${ingressServices}{{- range .Tags }}{{- if . | regexMatch "${HOST_TAG}" }}
    use_backend app-{{ $service }} if { var(txn.host) -m str {{ . | regexReplaceAll "^${INGRESS_TAG}-host=" "" }}.${INGRESS_DOMAIN} }
{{- end }}{{- end }}{{- end }}{{- end }}
    default_backend no-app

backend no-app
    http-request return status 404 content-type text/plain lf-string "no app answers at %[var(txn.host)]\\n"
${ingressServices}

backend app-{{ $service }}
    balance roundrobin
{{- range .Tags }}{{- if . | regexMatch "${CHECK_TAG}" }}
    option httpchk GET {{ . | regexReplaceAll "^${INGRESS_TAG}-check=" "" }}
{{- end }}{{- end }}
    server-template i ${INGRESS_SLOTS} _{{ $service }}._tcp.service.consul resolvers consul resolve-opts allow-dup-ip init-addr none check
{{- end }}{{- end }}
`
}

function validate(settings: IngressSettings): void {
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535)
    throw new SpecError('ingress.port', 'expected a TCP port from 1 to 65535')
  const dns = settings.consulDns
  if (typeof dns === 'string' ? !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(dns) : !Number.isInteger(dns.port) || dns.port < 1 || dns.port > 65535)
    throw new SpecError('ingress.consulDns', `expected host:port or { port }, got ${JSON.stringify(dns)}`)
}

/**
 * The ingress system job, marked as the cloud's with the hash of what it was
 * rendered from. It lives in the cloud's system namespace, which only cloud:up
 * registers in: raw_exec is enabled there and nowhere else, so no app's or
 * controller's token can start a command with it; HAProxy itself runs as
 * nobody.
 */
export function renderIngressJob(settings: IngressSettings) {
  validate(settings)
  const job = {
    ID: INGRESS_JOB,
    Name: INGRESS_JOB,
    Namespace: settings.namespace,
    Type: 'system' as const,
    Datacenters: [...(settings.datacenters ?? ['dc1'])],
    Meta: { [META_INGRESS_OWNER]: INGRESS_OWNER },
    TaskGroups: [
      {
        Name: INGRESS_JOB,
        Count: 1,
        Networks: [{ ReservedPorts: [{ Label: 'http', Value: settings.port }] }],
        Services: [
          {
            Name: INGRESS_JOB,
            PortLabel: 'http',
            Provider: 'consul',
            Checks: [
              {
                Name: 'ingress http',
                Type: 'http',
                Path: INGRESS_HEALTH_PATH,
                Interval: 5 * SECOND,
                Timeout: 2 * SECOND,
              },
            ],
          },
        ],
        Tasks: [
          {
            Name: 'haproxy',
            Driver: 'raw_exec',
            User: INGRESS_USER,
            Config: { command: HAPROXY_BIN, args: ['-W', '-db', '-f', '${NOMAD_TASK_DIR}/haproxy.cfg'] },
            Templates: [
              {
                EmbeddedTmpl: haproxyTemplate(settings.consulDns),
                DestPath: 'local/haproxy.cfg',
                ChangeMode: 'signal',
                ChangeSignal: 'SIGUSR2',
                Splay: 0,
                // Render soon after the catalog changes (Nomad's default waits at least 5 s).
                Wait: { Min: 1 * SECOND, Max: 5 * SECOND },
              },
            ],
            // SIGUSR1: HAProxy's soft stop (stop listening, finish the requests under way).
            KillSignal: 'SIGUSR1',
            KillTimeout: 15 * SECOND,
            Resources: { CPU: 200, MemoryMB: 128 },
          },
        ],
      },
    ],
  } satisfies NomadJob
  const hash = createHash('sha256').update(JSON.stringify(job)).digest('hex')
  return {
    ...job,
    Meta: { ...job.Meta, [META_INGRESS_HASH]: hash, [META_INGRESS_VERSION]: String(INGRESS_VERSION) },
  } satisfies NomadJob
}
