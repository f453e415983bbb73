import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseWrk } from '../../../bench/load.ts'

const sample = `Running 10s test @ http://127.0.0.1:24100/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  350.00us  12.00ms   90.00%
    Req/Sec    13.40k   500.00    14.00k    70.00%
  Latency Distribution
     50%  1.10ms
     75%  1.30ms
     90%  1.60ms
     99%  850.00us
  133400 requests in 10.00s, 15.90MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  13340.50
Transfer/sec:      1.59MB
`

test('wrk output gives requests, rate, percentiles in ms, and errors', () => {
  const r = parseWrk(sample)
  assert.equal(r.requests, 133400)
  assert.equal(r.rps, 13340.5)
  assert.equal(r.p50Ms, 1.1)
  assert.equal(r.p99Ms, 0.85)
  assert.equal(r.errors, 7)
})

test('output wrk did not finish is refused, quoting it', () => {
  assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /cannot read wrk's output:\nunable to connect/)
})
