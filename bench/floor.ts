// The floor under imgedge's hit path: a bare node:http server that answers
// every request with a fixed body of the size in the URL and the headers an
// imgedge hit carries, and does nothing else. What it reaches on one core is
// as far as any cache built on Node's HTTP server can go.
import http from 'node:http';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const bodies = new Map<number, Buffer>();

function bodyOf(size: number): Buffer {
  let body = bodies.get(size);
  if (!body) bodies.set(size, (body = Buffer.alloc(size, 0x5a)));
  return body;
}

http
  .createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    if (req.url === '/__ping') {
      res.end('ok');
      return;
    }
    const size = Number(/\/s(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    const body = bodyOf(size);
    res.writeHead(200, [
      'content-type', 'image/jpeg', 'etag', '"floor"', 'last-modified', 'Wed, 01 Jan 2025 00:00:00 GMT',
      'cache-control', 'public, max-age=3600', 'content-length', String(body.length), 'accept-ranges', 'bytes',
      'cache-status', 'imgedge; hit; ttl=3600', 'age', '1',
    ]);
    res.end(req.method === 'HEAD' ? undefined : body);
  })
  .listen(port, '127.0.0.1');
