// The agents in start order: Consul first, since Nomad registers services in it.
import type { Agent } from '../agent.ts'
import { consulAgent } from './consul.ts'
import { s3Agent } from './s3.ts'
import { nomadAgent } from './nomad.ts'
import { postgresAgent } from './postgres.ts'
import { smtpAgent } from './smtp.ts'

export const agents: readonly Agent[] = [consulAgent, nomadAgent, s3Agent, postgresAgent, smtpAgent]
