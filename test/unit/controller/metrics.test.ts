// Prometheus text rendering of the controller's metrics.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Counter, Histogram, renderMetrics } from '../../../controller/metrics.ts'
import { ControllerMetrics } from '../../../controller/controller-metrics.ts'

test('counters, histograms and label escaping render as Prometheus text', () => {
  const c = new Counter('x_total', 'Things.')
  c.inc({ result: 'done' })
  c.inc({ result: 'done' }, 2)
  c.inc({ why: 'a "quoted"\nline' })
  const h = new Histogram('d_seconds', 'Durations.', [0.1, 1])
  h.observe(0.05)
  h.observe(0.5)
  h.observe(5)
  const text = renderMetrics([c, h])
  assert.match(text, /^# HELP x_total Things\.\n# TYPE x_total counter\n/)
  assert.match(text, /^x_total\{result="done"\} 3$/m)
  assert.match(text, /^x_total\{why="a \\"quoted\\"\\nline"\} 1$/m)
  assert.match(text, /^d_seconds_bucket\{le="0.1"\} 1$/m)
  assert.match(text, /^d_seconds_bucket\{le="1"\} 2$/m)
  assert.match(text, /^d_seconds_bucket\{le="\+Inf"\} 3$/m)
  assert.match(text, /^d_seconds_sum 5.55$/m)
  assert.match(text, /^d_seconds_count 3$/m)
})

test('apps gauges follow the phases written, and clear when leadership ends', () => {
  const m = new ControllerMetrics()
  m.setLeader(true)
  m.phases.set('a', 'running')
  m.phases.set('b', 'invalid')
  m.phases.set('c', 'deploying')
  let text = m.render()
  assert.match(text, /^lean_controller_apps\{state="desired"\} 3$/m)
  assert.match(text, /^lean_controller_apps\{state="ready"\} 1$/m)
  assert.match(text, /^lean_controller_apps\{state="invalid"\} 1$/m)
  assert.match(text, /^lean_controller_leader 1$/m)
  m.setLeader(false)
  text = m.render()
  assert.match(text, /^lean_controller_apps\{state="desired"\} 0$/m)
  assert.match(text, /^lean_controller_leader 0$/m)
})
