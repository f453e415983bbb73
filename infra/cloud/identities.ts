// The least-privilege identities of the cloud's parts, as ACL policies: what
// the controller may do in Consul and in Nomad. `cloud:up` makes them for the
// cloud's own controller; the tests make the same ones for each controller
// they start on keys of its own.
import { CONTROLLER_SERVICE, type ControllerKeys } from '../../ground/kv-layout.ts'

export interface AclPolicy {
  readonly Name: string
  readonly Description: string
  readonly Rules: string
}

/**
 * Nomad in Consul: what its agent (server and client in one) needs without
 * Connect: read the local agent (it fingerprints Consul through /v1/agent/self;
 * without it no job with a service is placed), read nodes and the catalog
 * (templates such as the ingress's), and register services with their checks.
 * No key, session, ACL or operator rights.
 */
export const NOMAD_CONSUL_POLICY: AclPolicy = {
  Name: 'lean-nomad',
  Description: "Nomad's agent: reads the agent and nodes, registers services and checks",
  Rules: ['agent_prefix "" { policy = "read" }', 'node_prefix "" { policy = "read" }', 'service_prefix "" { policy = "write" }', ''].join('\n'),
}

/**
 * The controller in Consul: read desired state, write status and its leader
 * lock, hold sessions, register itself, and read the catalog and health of
 * services (status follows checks). It cannot write desired state (operators
 * do, with their own token) nor read any other key.
 */
export function controllerConsulPolicy(name: string, keys: ControllerKeys): AclPolicy {
  const q = JSON.stringify
  return {
    Name: name,
    Description: `The controller of ${keys.appsPrefix}: reads it, writes ${keys.statusPrefix} and ${keys.leaderKey}`,
    Rules: [
      `key_prefix ${q(keys.appsPrefix)} { policy = "read" }`,
      `key_prefix ${q(keys.statusPrefix)} { policy = "write" }`,
      `key ${q(keys.leaderKey)} { policy = "write" }`,
      // The leader lock's session lives on the agent's node.
      'session_prefix "" { policy = "write" }',
      `service ${q(CONTROLLER_SERVICE)} { policy = "write" }`,
      'service_prefix "" { policy = "read" }',
      'node_prefix "" { policy = "read" }',
      '',
    ].join('\n'),
  }
}

/**
 * The controller in Nomad: submit, read and list jobs and read task logs in
 * its namespace only, and read nodes (VM status names the node). Jobs in any
 * other namespace are out of its reach.
 */
export function controllerNomadPolicy(name: string, namespace: string): AclPolicy {
  return {
    Name: name,
    Description: `The controller: jobs in namespace ${namespace} only`,
    Rules: [
      `namespace ${JSON.stringify(namespace)} {`,
      '  capabilities = ["list-jobs", "read-job", "submit-job", "read-logs"]',
      '}',
      'node {',
      '  policy = "read"',
      '}',
      '',
    ].join('\n'),
  }
}
