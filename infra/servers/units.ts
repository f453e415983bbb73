// The systemd units of one real server, running the agents with the same
// commands and arguments as the local cloud's agents (infra/cloud/agents/*.ts
// spawnSpec), their configs read from /etc/lean-cloud.
//
// Every server: lean-consul (as its own user), lean-libvirt (the virt driver
// of each Nomad client reaches a libvirtd on its own machine), lean-nomad
// (root: its client makes cgroups, mounts and runs tasks) and
// lean-controller; with two servers or more, lean-s3-volume (S3's objects, two
// copies on two servers). The services server also: lean-s3, lean-postgres,
// lean-smtp.
import path from 'node:path'
import { consulAgent } from '../cloud/agents/consul.ts'
import { libvirtAgent, libvirtdSpawnSpec } from '../cloud/agents/libvirt.ts'
import { nomadAgent } from '../cloud/agents/nomad.ts'
import { postgresAgent, postgresArgs } from '../cloud/agents/postgres.ts'
import { s3Agent } from '../cloud/agents/s3.ts'
import { s3VolumeAgent } from '../cloud/agents/s3-volume.ts'
import { smtpAgent } from '../cloud/agents/smtp.ts'
import type { Agent } from '../cloud/agent.ts'
import { layout, type CloudConfig } from '../cloud/config.ts'
import type { Credentials } from '../cloud/credentials.ts'
import { serverPaths } from './paths.ts'
import type { ClusterPlan, ServerPlan } from './plan.ts'
import { confined, execLine, renderUnit, type UnitLine } from './systemd.ts'

export const CONSUL_USER = 'lean-consul'

export interface RenderedUnit {
  readonly file: string
  readonly text: string
}

const DOCS = 'docs/cluster.md'

function stopLines(agent: Agent): UnitLine[] {
  return [
    ['KillSignal', agent.stopSignal],
    ['TimeoutStopSec', Math.ceil(agent.stopGraceMs / 1000)],
    ['Restart', 'on-failure'],
    ['RestartSec', 2],
  ]
}

function unitHeader(plan: ClusterPlan, s: ServerPlan, what: string): string {
  return `${what} on ${s.server.name} (${s.server.address}). Rendered by 'npm run cluster:render'; see ${path.join(plan.inventory.installDir, DOCS)}.`
}

const network: UnitLine[] = [
  ['Wants', 'network-online.target'],
  ['After', 'network-online.target'],
]
const install = [['WantedBy', 'multi-user.target']] as const satisfies readonly UnitLine[]

function consulUnit(plan: ClusterPlan, s: ServerPlan): RenderedUnit {
  const p = serverPaths(plan.inventory)
  return {
    file: 'lean-consul.service',
    text: renderUnit(unitHeader(plan, s, 'Consul server'), {
      Unit: [['Description', `Lean Cloud: Consul server ${s.server.name}`], ['Documentation', `file://${path.join(plan.inventory.installDir, DOCS)}`], ...network],
      Service: [
        // Consul tells systemd when its agent is up.
        ['Type', 'notify'],
        ['User', CONSUL_USER],
        ['Group', CONSUL_USER],
        ['ExecStart', execLine(p.bin('consul'), ['agent', `-config-file=${p.consulConfig}`])],
        ['ExecReload', '/bin/kill -HUP $MAINPID'],
        ...stopLines(consulAgent),
        ['LimitNOFILE', 65536],
        ...confined([layout(s.config).consulData]),
      ],
      Install: install,
    }),
  }
}

function libvirtUnit(plan: ClusterPlan, s: ServerPlan): RenderedUnit {
  const spec = libvirtdSpawnSpec(s.config.dataDir)
  return {
    file: 'lean-libvirt.service',
    text: renderUnit(unitHeader(plan, s, "The cloud's private libvirtd (its own mount namespace; infra/cloud/agents/libvirt.ts)"), {
      Unit: [['Description', `Lean Cloud: private libvirtd on ${s.server.name}`], ...network],
      Service: [
        // Root: it bind-mounts its own dirs over libvirt's and makes /dev/kvm for QEMU, which runs as lean-qemu.
        ['ExecStart', execLine(`/usr/bin/${spec.command}`, spec.args)],
        ['WorkingDirectory', spec.cwd],
        // Running VMs are Nomad's tasks: they go on while libvirtd restarts, as under cloud:down.
        ['KillMode', 'process'],
        ...stopLines(libvirtAgent),
      ],
      Install: install,
    }),
  }
}

function nomadUnit(plan: ClusterPlan, s: ServerPlan): RenderedUnit {
  const p = serverPaths(plan.inventory)
  return {
    file: 'lean-nomad.service',
    text: renderUnit(unitHeader(plan, s, 'Nomad server and client'), {
      Unit: [
        ['Description', `Lean Cloud: Nomad server and client ${s.server.name}`],
        ['Wants', 'network-online.target lean-consul.service lean-libvirt.service'],
        // Consul first (Nomad registers services in it); libvirt before the virt driver fingerprints it.
        ['After', 'network-online.target lean-consul.service lean-libvirt.service'],
      ],
      Service: [
        // Root and not confined: the client makes cgroups and mounts for its tasks, which inherit its sandbox.
        ['ExecStart', execLine(p.bin('nomad'), ['agent', `-config=${p.nomadConfig}`])],
        ['ExecReload', '/bin/kill -HUP $MAINPID'],
        // Tasks survive an agent restart (Nomad recovers them), as HashiCorp's unit has it.
        ['KillMode', 'process'],
        ...stopLines(nomadAgent),
        ['Delegate', 'yes'],
        ['LimitNOFILE', 65536],
        ['LimitNPROC', 'infinity'],
        ['TasksMax', 'infinity'],
        ['OOMScoreAdjust', -1000],
      ],
      Install: install,
    }),
  }
}

function controllerUnit(plan: ClusterPlan, s: ServerPlan): RenderedUnit {
  const p = serverPaths(plan.inventory)
  const i = plan.inventory.installDir
  return {
    file: 'lean-controller.service',
    text: renderUnit(unitHeader(plan, s, 'The controller (one leader among the servers, by a Consul lock)'), {
      Unit: [
        ['Description', `Lean Cloud: controller on ${s.server.name}`],
        ['Wants', 'network-online.target lean-nomad.service'],
        ['After', 'network-online.target lean-consul.service lean-nomad.service'],
      ],
      Service: [
        // An unprivileged user of its own, made at each start; it reads the checkout and the CA, writes nothing.
        ['DynamicUser', 'yes'],
        ['WorkingDirectory', i],
        // Its least-privilege tokens; controller-token.env is written by cluster:init.
        ['EnvironmentFile', p.controllerEnv],
        ['EnvironmentFile', p.controllerTokenEnv],
        ['ExecStart', execLine(p.bin('node'), ['--import', 'tsx', path.join(i, 'controller', 'main.ts')])],
        // SIGTERM: it releases its leader lock and deregisters from Consul.
        ['KillSignal', 'SIGTERM'],
        ['TimeoutStopSec', 10],
        ['Restart', 'on-failure'],
        ['RestartSec', 5],
        ...confined([]),
      ],
      Install: install,
    }),
  }
}

/** A SeaweedFS unit: the agent's command, its stop signal and grace, room for many files, and its data folder the only one it writes. */
async function seaweedUnit(
  plan: ClusterPlan,
  s: ServerPlan,
  credentials: Credentials,
  unit: { readonly agent: Agent; readonly config: CloudConfig; readonly file: string; readonly what: string; readonly description: string; readonly data: string },
): Promise<RenderedUnit> {
  const spec = await unit.agent.spawnSpec({ config: unit.config, credentials, binaries: { seaweedfs: serverPaths(plan.inventory).bin('seaweedfs') }, progress: () => {} })
  return {
    file: unit.file,
    text: renderUnit(unitHeader(plan, s, unit.what), {
      Unit: [['Description', unit.description], ...network],
      Service: [
        ['ExecStart', execLine(spec.command, spec.args)],
        ['WorkingDirectory', spec.cwd!],
        ...stopLines(unit.agent),
        ['LimitNOFILE', 65536],
        ...confined([unit.data]),
      ],
      Install: install,
    }),
  }
}

/** The S3 server (SeaweedFS), shared by the cluster. */
function s3Unit(plan: ClusterPlan, s: ServerPlan, credentials: Credentials): Promise<RenderedUnit> {
  return seaweedUnit(plan, s, credentials, {
    agent: s3Agent,
    config: plan.shared,
    file: 'lean-s3.service',
    what: 'The S3 server (SeaweedFS), shared by the cluster',
    description: 'Lean Cloud: S3 (SeaweedFS)',
    data: layout(plan.shared).s3Data,
  })
}

/** A volume server of the cluster's S3 on this server: the master on the services server places each object on two of them. */
function s3VolumeUnit(plan: ClusterPlan, s: ServerPlan, credentials: Credentials): Promise<RenderedUnit> {
  return seaweedUnit(plan, s, credentials, {
    agent: s3VolumeAgent,
    config: s.config,
    file: 'lean-s3-volume.service',
    what: 'The S3 volume server (SeaweedFS; each object twice, on two servers)',
    description: `Lean Cloud: S3 volume server on ${s.server.name}`,
    data: layout(s.config).s3VolumeData,
  })
}

/** PostgreSQL's server with the arguments postgresAgent.spawnSpec gives it (which needs PostgreSQL installed where it runs). */
function postgresUnit(plan: ClusterPlan, s: ServerPlan): RenderedUnit {
  const p = serverPaths(plan.inventory)
  return {
    file: 'lean-postgres.service',
    text: renderUnit(unitHeader(plan, s, "The cloud's private PostgreSQL cluster (not Debian's postgresql service)"), {
      Unit: [['Description', 'Lean Cloud: PostgreSQL'], ...network],
      Service: [
        // PostgreSQL refuses root; cluster:prepare made the cluster as postgres.
        ['User', 'postgres'],
        ['Group', 'postgres'],
        ['ExecStart', execLine(p.bin('postgres'), postgresArgs(plan.shared))],
        ['WorkingDirectory', '/'],
        // Its children (backends) follow the postmaster's own shutdown.
        ['KillMode', 'mixed'],
        ...stopLines(postgresAgent),
        ...confined([plan.shared.postgresDataDir]),
      ],
      Install: install,
    }),
  }
}

async function smtpUnit(plan: ClusterPlan, s: ServerPlan, credentials: Credentials): Promise<RenderedUnit> {
  const spec = await smtpAgent.spawnSpec({ config: plan.shared, credentials, binaries: {}, progress: () => {} })
  return {
    file: 'lean-smtp.service',
    text: renderUnit(unitHeader(plan, s, 'The SMTP server (aiosmtpd), delivering into a Maildir'), {
      Unit: [['Description', 'Lean Cloud: SMTP (aiosmtpd)'], ...network],
      Service: [
        ['ExecStart', execLine(spec.command, spec.args)],
        ['Environment', 'PYTHONUNBUFFERED=1'],
        ['WorkingDirectory', spec.cwd!],
        ...stopLines(smtpAgent),
        ...confined([layout(plan.shared).maildir]),
      ],
      Install: install,
    }),
  }
}

/** The unit files of a server, in start order. */
export function serverUnitFiles(plan: ClusterPlan, s: ServerPlan): string[] {
  const shared = s.services ? ['lean-s3.service', 'lean-postgres.service', 'lean-smtp.service'] : []
  const volume = plan.shared.objectsOnNodes ? ['lean-s3-volume.service'] : []
  return ['lean-consul.service', 'lean-libvirt.service', ...shared, ...volume, 'lean-nomad.service', 'lean-controller.service']
}

/** The units of one server, in start order (the agents' spawnSpec take credentials, and use none in a command line). */
export async function serverUnits(plan: ClusterPlan, s: ServerPlan, credentials: Credentials): Promise<RenderedUnit[]> {
  const shared = s.services ? [await s3Unit(plan, s, credentials), postgresUnit(plan, s), await smtpUnit(plan, s, credentials)] : []
  const volume = plan.shared.objectsOnNodes ? [await s3VolumeUnit(plan, s, credentials)] : []
  return [consulUnit(plan, s), libvirtUnit(plan, s), ...shared, ...volume, nomadUnit(plan, s), controllerUnit(plan, s)]
}
