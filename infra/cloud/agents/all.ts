// The agents in start order: Consul first, since Nomad registers services in
// it; libvirt before Nomad, whose virt driver fingerprints through it.
import type { Agent } from '../agent.ts'
import { consulAgent } from './consul.ts'
import { libvirtAgent } from './libvirt.ts'
import { s3Agent } from './s3.ts'
import { nomadAgent } from './nomad.ts'
import { postgresAgent } from './postgres.ts'
import { smtpAgent } from './smtp.ts'

export const agents: readonly Agent[] = [
  consulAgent,
  libvirtAgent,
  nomadAgent,
  s3Agent,
  postgresAgent,
  smtpAgent,
]
