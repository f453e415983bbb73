// What the tests' Nomad service jobs share whatever their driver: the job
// around one task group, in the tests' only datacenter, and the Consul
// service, checked over HTTP, that makes a group's `http` port findable.

/** A service job `id` (its name too) of this one task group, in dc1. */
export function serviceJob<Group>(id: string, group: Group) {
  return {
    Job: {
      ID: id,
      Name: id,
      Type: 'service',
      Datacenters: ['dc1'],
      TaskGroups: [group],
    },
  }
}

/** A Consul service `id` on the group's `http` port, healthy while GET / answers (every 2 s, 1 s timeout). */
export function httpService(id: string) {
  return {
    Name: id,
    PortLabel: 'http',
    Provider: 'consul',
    Checks: [{ Type: 'http', Path: '/', Interval: 2e9, Timeout: 1e9 }],
  }
}
