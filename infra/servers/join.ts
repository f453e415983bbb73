// JOIN.md: the steps that make one server a member of the cluster, in order,
// with its own names, addresses and paths filled in.
import { layout } from '../cloud/config.ts'
import { servicesServer } from './inventory.ts'
import { serverPaths } from './paths.ts'
import type { ClusterPlan, ServerPlan } from './plan.ts'
import { serverUnitFiles } from './units.ts'

export function joinSteps(plan: ClusterPlan, s: ServerPlan): string {
  const inv = plan.inventory
  const p = serverPaths(inv)
  const me = s.server
  const services = servicesServer(inv)
  const first = plan.first.server
  const others = inv.servers.filter((o) => o.name !== services.name)
  const units = serverUnitFiles(plan, s)
  const volumes = plan.shared.objectsOnNodes === true
  const s3 = s.config.s3
  const start = units.filter((u) => u !== 'lean-controller.service')
  const list = inv.servers.map((o) => `| ${o.name} | ${o.address} | ${o.interface} | ${[o.name === services.name && 'shared services', o.name === first.name && 'first server (ACL bootstrap)'].filter(Boolean).join(', ')} |`)
  return `# Joining ${me.name} (${me.address}) to the Lean Cloud cluster

Rendered by \`npm run cluster:render\` from the inventory in \`inventory.json\`. The cluster:

| server | address | interface | role |
| --- | --- | --- | --- |
${list.join('\n')}

Every server runs a Consul server, a Nomad server and client (the \`wasm\` and \`virt\` drivers), a
private libvirtd${volumes ? ", an S3 volume server (`lean-s3-volume`: S3's objects, two copies of each on two servers)" : ''} and a controller; ${services.name} also runs S3 (SeaweedFS${volumes ? ': its master, filer and gateway' : ''}), PostgreSQL and SMTP.
Run every command as root on ${me.name}, unless it says otherwise. Steps 1 to 4 on every server
first; step 5 once for the cluster, on ${services.name}; then step 6 on every server.

## 1. Prerequisites and the checkout

Debian 12 with Node 20.19+, Go 1.25+ and Rust 1.95+ (rustup) on PATH, as for the local cloud.
The checkout is the commit this folder was rendered from, at ${inv.installDir}:

\`\`\`sh
git clone <the repository> ${inv.installDir} && cd ${inv.installDir} && git checkout <the rendered commit>
bash infra/prerequisites.sh        # as root it installs the missing Debian packages
npm install
\`\`\`

Open the ports between the servers: Consul 8300-8302, 8500, 8502, 8600; Nomad 4646-4648; the
controllers' 4680; Nomad's dynamic ports 20000-25999 and the ingress 8088; on ${services.name}
S3 9000, PostgreSQL 15432 and SMTP 2525${
    volumes
      ? `. The S3 volume servers: ${s3.volumePort} (HTTPS) and ${s3.volumeGrpcPort} (gRPC) on every
server, from every server; and S3's master on ${services.name}, ${s3.masterGrpcPort} (gRPC), from every server`
      : ''
  }.

## 2. This folder

From the machine that rendered it (it holds secrets: copy it over SSH only):

\`\`\`sh
rsync -a --delete <render dir>/${me.name}/ root@${me.address}:${p.etc}/
\`\`\`

The CA's key stays on that machine (\`ca/\` of the render dir).

## 3. Binaries, drivers, files

\`\`\`sh
cd ${inv.installDir}
LEAN_CLOUD_CACHE=${p.cache} bash infra/build-binaries.sh
npm run cluster:prepare -- --inventory ${p.inventory} --server ${me.name}
cp ${p.units}/*.service /etc/systemd/system/ && systemctl daemon-reload
\`\`\`

\`build-binaries.sh\` builds Consul, Nomad, SeaweedFS and the wasm engine host into ${p.cache}
(20-30 minutes the first time). \`cluster:prepare\` links them into ${inv.installDir}/bin, installs the
\`wasm\` and \`virt\` drivers into Nomad's plugin dir, builds the tiny VM image (the virt driver's
probe) and checks it is the one \`nomad.hcl\` names, installs the certificates into
${inv.dataDir}/tls, makes the user \`lean-consul\`, writes the private libvirtd's config${
    volumes ? `, makes the S3 volume server's data dir ${layout(s.config).s3VolumeData} with its security settings` : ''
  }${
    s.services ? ', and, on this server, initialises PostgreSQL, writes S3\'s identities and security settings and makes the Maildir' : ''
  }.

## 4. Start the agents, in this order

\`\`\`sh
${start.map((u) => `systemctl enable --now ${u}`).join('\n')}
\`\`\`

Consul elects its leader once all ${inv.servers.length} servers have joined. Check it from any server:

\`\`\`sh
set -a; . ${p.envFile}; set +a
consul members                     # ${inv.servers.length} servers, all alive
\`\`\`

## 5. Once for the cluster, on ${services.name}

\`\`\`sh
cd ${inv.installDir} && npm run cluster:init -- --inventory ${p.inventory}
\`\`\`

It does what \`cloud:up\` does once the agents are healthy: bootstraps Nomad's ACLs through
${first.name} (Consul's come from its config) and makes, through the same agents' code, the Consul
tokens (DNS, Nomad's, the controller's), the Nomad namespaces, the controller's Nomad token and the
ingress job; the S3 buckets; the database and its migrations${volumes ? '; then it waits until S3 stores an object on two volume servers' : ''}. It writes the controller's Nomad token
to ${p.controllerTokenEnv}; copy that file to the other servers:

\`\`\`sh
${others.map((o) => `scp -p ${p.controllerTokenEnv} root@${o.address}:${p.controllerTokenEnv}`).join('\n') || '# (no other server)'}
\`\`\`

Then, from any server:

\`\`\`sh
set -a; . ${p.envFile}; set +a
nomad server members               # ${inv.servers.length} servers, one leader
nomad node status                  # ${inv.servers.length} nodes, ready
\`\`\`

## 6. The controller, on every server

\`\`\`sh
systemctl enable --now lean-controller.service
curl -s http://${me.address}:4680/ready
\`\`\`

The controllers elect one leader through Consul. Apps are declared as on the local cloud, with the
variables of ${p.envFile} (\`npm run leanctl -- apply -f app.yaml\`).
`
}
