// The field table of the app documents, both kinds: every field's type, range,
// pattern, allowed values, default, whether it is required, and what it means.
// The validators (app-spec.ts for wasm-service, vm-document.ts for vm) read
// their rules from these entries, and the JSON Schema is generated from them
// (app-document-schema.ts). Rules the renderers check afterwards are their own
// constants, named here under `rendered` so that the schema states them too;
// what no schema can state is listed in RULES_BEYOND_SCHEMA.
import {
  MAX_OUTBOUND_GRANT_LENGTH,
  MAX_OUTBOUND_GRANTS,
  OUTBOUND_GRANT_FORM,
} from '../ground/outbound-grant.ts'
import { DEFAULT_INSTANCE_MEMORY, MAIL_RECIPIENT } from '../task-driver/wasm/task-config.ts'
import type {
  AnyOfField,
  BooleanField,
  ConstField,
  EnumField,
  IntegerField,
  ListField,
  MapField,
  ObjectField,
  RuleBeyondSchema,
  StringField,
} from './field-table.ts'
import { CHECK_PATH, HOST_LABEL } from './ingress.ts'
import { PLACEMENT_FIELDS } from './placement.ts'
import { APP_NAME, MAX_STRINGS } from './spec-fields.ts'
import {
  CLOUD_CONFIG,
  HOSTNAME,
  MAX_EGRESS,
  MAX_LIST,
  MAX_USER_DATA_BYTES,
  MAX_VM_CPU_MHZ,
  MAX_VM_PORTS,
  MIN_VM_CPU_MHZ,
  NON_BLANK,
  PORT_LABEL,
  SSH_KEY,
} from './vm.ts'
import { DEFAULT_INSTANCES, DEFAULT_RESOURCES, ENV_NAME } from './wasm-service.ts'

/** Largest document accepted, in bytes; Consul's own value limit is 512 KiB. */
export const MAX_DOCUMENT_BYTES = 64 * 1024

const SHA256 = /^[0-9a-f]{64}$/
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const DATACENTER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const DNS_LABEL = 'a DNS label: lower-case letters, digits and dashes'

// ---- Shared by both kinds -------------------------------------------------

const serviceName = (what: string) =>
  ({
    type: 'string',
    pattern: APP_NAME,
    what: DNS_LABEL,
    rendered: { notReserved: true },
    description: `The Consul service name (<name>.service.consul, what other apps call); default ${what}. Lower-case letters, digits and dashes, starting with a letter (at most 63); never one of the cloud's own names.`,
  }) as const satisfies StringField

const checkIntervalSeconds = (byDefault: number) =>
  ({
    type: 'integer',
    min: 1,
    max: 3600,
    description: `Seconds between health checks; default ${byDefault}.`,
  }) as const satisfies IntegerField

const ingress = (defaultHost: string) =>
  ({
    type: 'anyOf',
    description: `Reached through the cloud's ingress at http://<host>.lean.localhost:<ingress port>/: true (the host is ${defaultHost}), { "host": "<label>" }, or false (not behind the ingress, the default).`,
    options: [
      {
        type: 'boolean',
        description: 'true: behind the ingress at the default host; false: not.',
      } satisfies BooleanField,
      {
        type: 'object',
        description: 'Behind the ingress at this host.',
        fields: {
          host: {
            type: 'string',
            rendered: { pattern: HOST_LABEL, notReserved: true },
            description: `The host label: lower-case letters, digits and dashes, not at either end (at most 63); default ${defaultHost}; never one of the cloud's own names.`,
          } satisfies StringField,
        },
      } satisfies ObjectField,
    ],
  }) as const satisfies AnyOfField

// ---- kind: wasm-service ----------------------------------------------------

/** A WebAssembly HTTP service run by the `wasm` task driver. */
export const WASM_SERVICE_DOCUMENT = {
  type: 'object',
  description: 'A WebAssembly HTTP service: a wasi:http component run by the wasm task driver.',
  fields: {
    kind: {
      type: 'const',
      value: 'wasm-service',
      required: true,
      description: 'The kind of app: "wasm-service".',
    } satisfies ConstField,
    component: {
      type: 'object',
      required: 'expected an object',
      description:
        'The component it runs, by its sha256 (leanctl apply and validate also take { "file": "./x.wasm" }, which they upload and replace by its sha256; a stored document never names a file).',
      fields: {
        sha256: {
          type: 'string',
          pattern: SHA256,
          what: '64 lower-case hexadecimal characters',
          required: true,
          description:
            "The component's sha256, 64 lower-case hexadecimal characters (leanctl component push prints it).",
        } satisfies StringField,
        source: {
          type: 'string',
          description:
            "Where clients fetch it: s3://artifacts/components/<sha256>.wasm (the default), an http(s):// URL or an absolute path; whether a path or host is allowed is each client's plugin config.",
        } satisfies StringField,
      },
    } satisfies ObjectField,
    count: {
      type: 'integer',
      min: 0,
      max: 1000,
      default: 1,
      description: 'Number of allocations (task groups) of the service.',
    } satisfies IntegerField,
    port: {
      type: 'anyOf',
      default: 'dynamic',
      description:
        '"dynamic" (a port Nomad picks, found through Consul SRV records) or { "static": <port> } (one allocation per node).',
      options: [
        { type: 'const', value: 'dynamic', description: 'A port Nomad picks.' } satisfies ConstField,
        {
          type: 'object',
          description: 'A fixed host port: one allocation per node.',
          fields: {
            static: {
              type: 'integer',
              min: 1,
              max: 65535,
              required: true,
              description: 'The host port, from 1 to 65535.',
            } satisfies IntegerField,
          },
        } satisfies ObjectField,
      ] as const,
    } satisfies AnyOfField,
    service: {
      type: 'object',
      description: 'Its Consul registration and HTTP health check.',
      fields: {
        name: serviceName("the app's name"),
        checkPath: {
          type: 'string',
          pattern: /^\/\S*$/,
          what: 'a path starting with /',
          default: '/health',
          rendered: { pattern: CHECK_PATH },
          description:
            'The HTTP health check path: starts with /, of letters, digits and ._~/?=&%+,;:@- only (never ${…}, which Nomad would fill in).',
        } satisfies StringField,
        checkIntervalSeconds: checkIntervalSeconds(5),
      },
    } satisfies ObjectField,
    instances: {
      type: 'integer',
      min: 1,
      max: 1024,
      description: `Component instances in each allocation, serving requests side by side; default ${DEFAULT_INSTANCES}.`,
    } satisfies IntegerField,
    grants: {
      type: 'object',
      description: 'What the component may use through the capability API; nothing by default.',
      fields: {
        buckets: {
          type: 'list',
          maxItems: MAX_STRINGS,
          description: 'S3 buckets it may read and write.',
          items: {
            type: 'string',
            pattern: BUCKET,
            what: 'a bucket name',
            description: 'A bucket name: 3 to 63 lower-case letters, digits, dots and dashes.',
          },
        } satisfies ListField,
        requestLog: {
          type: 'boolean',
          description: 'Whether it may write its request log (the request_logs table).',
        } satisfies BooleanField,
        outbound: {
          type: 'list',
          maxItems: MAX_STRINGS,
          rendered: { maxItems: MAX_OUTBOUND_GRANTS },
          description: `Where its own wasi:http calls may go, at most ${MAX_OUTBOUND_GRANTS}: "http://<service>.service.consul" (found through Consul, port from SRV), "https://api.example.com", either with ":port"; no path, query or user.`,
          items: {
            type: 'string',
            rendered: { pattern: OUTBOUND_GRANT_FORM, maxLength: MAX_OUTBOUND_GRANT_LENGTH },
            description:
              'A scheme (http or https), a host and an optional port. Never the node itself or a link-local address.',
          },
        } satisfies ListField,
        mail: {
          type: 'anyOf',
          description:
            'Whom it may mail: e-mail addresses, or domains (any address at one); false or absent: nobody. true, which would be anyone, is refused.',
          options: [
            { type: 'const', value: false, description: 'Nobody.' } satisfies ConstField,
            {
              type: 'list',
              maxItems: MAX_STRINGS,
              description: 'Addresses or domains, in lower case.',
              items: {
                type: 'string',
                rendered: { pattern: MAIL_RECIPIENT },
                description: 'An e-mail address or a domain, in lower case.',
              },
            } satisfies ListField,
          ] as const,
        } satisfies AnyOfField,
      },
    } satisfies ObjectField,
    limits: {
      type: 'object',
      description: "The wasm driver's limits, in its own units.",
      fields: {
        requestTimeout: {
          type: 'string',
          description:
            'How long one request may take, a duration such as "500ms", "30s" or "1m"; default 30s.',
        } satisfies StringField,
        maxRequestBody: {
          type: 'string',
          description:
            'The largest request body, a size such as "512KiB" or "8MiB"; default 1MiB; at most the cloud\'s ceiling (LEAN_LIMIT_REQUEST_BODY).',
        } satisfies StringField,
        instanceMemory: {
          type: 'string',
          description: `How far one instance's memory may grow, a size; default ${DEFAULT_INSTANCE_MEMORY}. instances × instanceMemory must fit resources.memoryMB.`,
        } satisfies StringField,
      },
    } satisfies ObjectField,
    env: {
      type: 'map',
      maxEntries: { count: 128, noun: 'variables' },
      rendered: { keyPattern: ENV_NAME },
      description:
        'Environment variables of the component, at most 128: names of letters, digits and _, not starting with a digit.',
      values: {
        type: 'string',
        form: 'lines',
        description: 'The value: text, lines allowed.',
      } satisfies StringField,
    } satisfies MapField,
    resources: {
      type: 'object',
      description: `What the task reserves; default { "cpu": ${DEFAULT_RESOURCES.cpu}, "memoryMB": ${DEFAULT_RESOURCES.memoryMB} }.`,
      fields: {
        cpu: {
          type: 'integer',
          min: 10,
          max: 256_000,
          required: true,
          description: 'CPU in MHz: a share under contention, not a cap.',
        } satisfies IntegerField,
        memoryMB: {
          type: 'integer',
          min: 16,
          max: 1_048_576,
          required: true,
          description: "Memory in MB, the task's hard limit: it must hold instances × limits.instanceMemory.",
        } satisfies IntegerField,
      },
    } satisfies ObjectField,
    ingress: ingress('the service name'),
    ...PLACEMENT_FIELDS,
  },
} as const satisfies ObjectField

// ---- kind: vm --------------------------------------------------------------

/** Virtual machines run by the `virt` task driver. */
export const VM_DOCUMENT = {
  type: 'object',
  description: 'Virtual machines run by the virt task driver, from an image by its digest.',
  fields: {
    kind: {
      type: 'const',
      value: 'vm',
      required: true,
      description: 'The kind of app: "vm".',
    } satisfies ConstField,
    image: {
      type: 'object',
      required: 'required: { "sha256": "<the image manifest\'s digest>" }',
      description: 'The image, by its manifest digest (npm run build:images prints it; leanctl image list).',
      fields: {
        sha256: {
          type: 'string',
          pattern: SHA256,
          what: "64 lower-case hexadecimal characters (the image manifest's digest)",
          required: true,
          description: "The image manifest's sha256, the image's identity.",
        } satisfies StringField,
        source: {
          type: 'string',
          description:
            'Where the manifest is: s3://<bucket>/<key> or an absolute path on the client, ending in /<sha256>.json; default s3://artifacts/images/<sha256>.json.',
        } satisfies StringField,
      },
    } satisfies ObjectField,
    vcpus: {
      type: 'integer',
      min: 1,
      max: 64,
      default: 1,
      description: "Virtual CPUs of each VM; at most the cloud's ceiling (LEAN_LIMIT_VM_VCPUS).",
    } satisfies IntegerField,
    cpu: {
      type: 'integer',
      min: MIN_VM_CPU_MHZ,
      max: MAX_VM_CPU_MHZ,
      description:
        "The task's CPU reservation in MHz, a share under contention, not a cap; default 25 × vcpus.",
    } satisfies IntegerField,
    memory: {
      type: 'string',
      default: '256MiB',
      description:
        'Guest memory, a size such as "128MiB" or "2GiB": 64MiB to 1024GiB, rounded down to whole MiB; at most the cloud\'s ceiling (LEAN_LIMIT_VM_MEMORY).',
    } satisfies StringField,
    disk: {
      type: 'object',
      description: "The copy-on-write disk over a disk image; default the image's own size.",
      fields: {
        size: {
          type: 'string',
          required: 'required (or leave out disk)',
          description:
            'Its virtual size, e.g. "10GiB": 1MiB to 65536GiB; at most the cloud\'s ceiling (LEAN_LIMIT_VM_DISK).',
        } satisfies StringField,
      },
    } satisfies ObjectField,
    cloudInit: {
      type: 'object',
      description: "What the guest's cloud-init is given at first boot.",
      fields: {
        hostname: {
          type: 'string',
          rendered: { pattern: HOSTNAME },
          description:
            "The guest's host name: dot-separated labels of letters, digits and dashes, at most 63 characters.",
        } satisfies StringField,
        userData: {
          type: 'string',
          form: 'long lines',
          rendered: { pattern: CLOUD_CONFIG, maxBytes: MAX_USER_DATA_BYTES },
          description: `cloud-config text: a first line "#cloud-config", then YAML; at most ${MAX_USER_DATA_BYTES / 1024} KiB.`,
        } satisfies StringField,
        sshAuthorizedKeys: {
          type: 'list',
          maxItems: MAX_STRINGS,
          rendered: { maxItems: MAX_LIST },
          description: `OpenSSH public keys for the image's default user, at most ${MAX_LIST}.`,
          items: {
            type: 'string',
            rendered: { pattern: SSH_KEY },
            description: 'One public key on one line: "ssh-ed25519 AAAA… comment".',
          },
        } satisfies ListField,
        commands: {
          type: 'list',
          maxItems: MAX_STRINGS,
          rendered: { maxItems: MAX_LIST },
          description: `Shell commands run once at first boot, at most ${MAX_LIST}.`,
          items: {
            type: 'string',
            rendered: { pattern: NON_BLANK },
            description: 'A command on one line, not blank.',
          },
        } satisfies ListField,
      },
    } satisfies ObjectField,
    ports: {
      type: 'map',
      rendered: { keyPattern: PORT_LABEL, maxEntries: MAX_VM_PORTS },
      description: `Port label (lower-case letters, digits and _, starting with a letter, at most 32) → TCP port inside the VM, at most ${MAX_VM_PORTS}; each gets a dynamic host port forwarded to it.`,
      values: {
        type: 'integer',
        min: 1,
        max: 65535,
        required: true,
        description: 'The TCP port inside the VM.',
      } satisfies IntegerField,
    } satisfies MapField,
    service: {
      type: 'object',
      description:
        "Consul registration of one forwarded port: an HTTP check of checkPath, else a TCP check. The service and its check use the host's address and port.",
      fields: {
        name: serviceName("the app's name"),
        port: {
          type: 'string',
          required: 'required: a label from ports',
          description: 'The label in ports of the port it registers.',
        } satisfies StringField,
        checkPath: {
          type: 'string',
          rendered: { pattern: CHECK_PATH },
          description:
            'An HTTP check of this path (starts with /, of letters, digits and ._~/?=&%+,;:@- only); without it a TCP check.',
        } satisfies StringField,
        checkIntervalSeconds: checkIntervalSeconds(10),
      },
    } satisfies ObjectField,
    state: {
      type: 'enum',
      values: ['running', 'stopped'] as const,
      default: 'running',
      description: 'stopped keeps the document but runs no VM.',
    } satisfies EnumField,
    count: {
      type: 'integer',
      min: 0,
      max: 100,
      default: 1,
      description: 'Number of VMs.',
    } satisfies IntegerField,
    datacenters: {
      type: 'list',
      maxItems: MAX_STRINGS,
      nonEmpty: 'expected at least one datacenter',
      description: 'Nomad datacenters to place them in; default ["dc1"].',
      items: {
        type: 'string',
        pattern: DATACENTER,
        what: 'a datacenter name',
        description: 'A datacenter name: letters, digits and _.-, at most 63.',
      },
    } satisfies ListField,
    ingress: ingress("the service's name"),
    egress: {
      type: 'list',
      maxItems: MAX_STRINGS,
      rendered: { maxItems: MAX_EGRESS, uniqueItems: true },
      description: `Consul services the guest may reach, each once, at most ${MAX_EGRESS}: each answers inside the guest at http://<service>.service.consul/. Nothing else is reachable from the guest.`,
      items: {
        type: 'string',
        pattern: APP_NAME,
        what: 'a Consul service name',
        rendered: { notReserved: true },
        description: "A Consul service name; never one of the cloud's own.",
      },
    } satisfies ListField,
    ...PLACEMENT_FIELDS,
  },
  // The ingress finds instances through their Consul service.
  conditions: [{ field: 'ingress', notIn: [false], then: { required: ['service'] } }],
} as const satisfies ObjectField

/** Both kinds, by the value of `kind`. */
export const DOCUMENT_KINDS = [WASM_SERVICE_DOCUMENT, VM_DOCUMENT] as const

/**
 * What the validator refuses that a JSON Schema cannot state: a document the
 * schema refuses is refused by the validator too, but one it accepts may still
 * be refused for these.
 */
export const RULES_BEYOND_SCHEMA = [
  {
    id: 'app-name',
    fields: ['name', 'service.name', 'ingress.host'],
    rule: 'The app\'s name is its key (under the apps prefix), not a field: lower-case letters, digits and dashes, starting with a letter, at most 63, no "/". service.name defaults to it and ingress.host to the service name; a default is checked as if written (a reserved name, or a host ending in a dash, is refused).',
  },
  {
    id: 'document-size',
    fields: ['$'],
    rule: `The document is JSON text of at most ${MAX_DOCUMENT_BYTES / 1024} KiB.`,
  },
  {
    id: 'text-length',
    fields: ['(strings)'],
    rule: "String lengths are counted in UTF-16 code units (JavaScript's), the schema's maxLength in characters: text with characters beyond the Basic Multilingual Plane may pass the schema and still be too long.",
  },
  {
    id: 'ceilings',
    fields: ['limits.maxRequestBody', 'vcpus', 'memory', 'disk.size'],
    rule: "Values over the cloud's ceilings, which its controller's configuration sets (LEAN_LIMIT_REQUEST_BODY, LEAN_LIMIT_VM_VCPUS, LEAN_LIMIT_VM_MEMORY, LEAN_LIMIT_VM_DISK), are refused.",
  },
  {
    id: 'sizes-and-durations',
    fields: [
      'limits.requestTimeout',
      'limits.maxRequestBody',
      'limits.instanceMemory',
      'memory',
      'disk.size',
    ],
    rule: 'Sizes ("512KiB", "64MiB", "2GB", or bytes) and durations ("500ms", "30s", "1h30m") in the grammar of ground/units.ts, greater than zero; memory from 64MiB to 1024GiB, disk.size from 1MiB to 65536GiB.',
  },
  {
    id: 'instance-memory',
    fields: ['limits.instanceMemory'],
    rule: `instances (default ${DEFAULT_INSTANCES}) × limits.instanceMemory (default ${DEFAULT_INSTANCE_MEMORY}) fit resources.memoryMB (default ${DEFAULT_RESOURCES.memoryMB}).`,
  },
  {
    id: 'component-source',
    fields: ['component.source'],
    rule: 'component.source is s3://artifacts/components/<component.sha256>.wasm, an http(s) URL without credentials, or a normalized absolute path to a file; no white space.',
  },
  {
    id: 'outbound-grants',
    fields: ['grants.outbound'],
    rule: 'Each grant names a host name or IP address that is not the node itself or link-local, a Consul name only as <service>.service.consul and without a port, and a port from 1 to 65535; no grant twice once normalised (case, a trailing slash).',
  },
  {
    id: 'image-source',
    fields: ['image.source'],
    rule: 'image.source is s3://<bucket>/<key> or an absolute path without . or .. segments, ending in /<image.sha256>.json.',
  },
  {
    id: 'service-port',
    fields: ['service.port'],
    rule: "A VM's service.port is one of the labels of its ports.",
  },
  {
    id: 'user-data-bytes',
    fields: ['cloudInit.userData'],
    rule: `cloudInit.userData is at most ${MAX_USER_DATA_BYTES} bytes in UTF-8; the schema bounds its characters.`,
  },
] as const satisfies readonly RuleBeyondSchema[]

export type RuleBeyondSchemaId = (typeof RULES_BEYOND_SCHEMA)[number]['id']
