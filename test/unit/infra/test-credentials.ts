// Fixed credentials for tests of what the cloud renders from them (configs, identities).
import type { Credentials } from '../../../infra/cloud/credentials.ts'

export const testCredentials: Credentials = {
  s3AccessKey: 'AK',
  s3SecretKey: 'SK',
  s3PublisherAccessKey: 'PAK',
  s3PublisherSecretKey: 'PSK',
  s3DriverAccessKey: 'DAK',
  s3DriverSecretKey: 'DSK',
  s3BucketKeySeed: 'seed',
  s3JwtSeed: 'jwt-seed',
  postgresPassword: 'pw',
  postgresWriterPassword: 'writer-pw',
  consulManagementToken: 'mgmt-token',
  consulDnsToken: 'dns-token',
  consulControllerToken: 'controller-token',
  consulNomadToken: 'nomad-consul-token',
  consulGossipKey: 'gossip-key',
  nomadManagementToken: 'nomad-token',
  nomadGossipKey: 'nomad-gossip',
  postgresClusterId: 'id',
}
