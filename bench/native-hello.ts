// The hello component's handler as a plain Node http server: the baseline
// the driver is compared against in bench:driver.
import http from 'node:http'

const port = Number(process.argv[2] ?? 0)
const greeting = process.env.GREETING ?? 'hello'
let served = 0
const server = http.createServer((req, res) => {
  served += 1
  const body = req.url === '/count' ? `${served}\n` : `${greeting} from wasm\n`
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.listen(port, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`))
