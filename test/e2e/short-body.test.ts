// An origin that lies about Content-Length, from a raw socket: fewer bytes
// than announced, then the connection closed, in each framing the origin could
// use. The client must never get a short body that looks complete, and nothing
// may be stored or counted as a good fetch. The HTTP client (undici) refuses
// each of these before the body's end is reached.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { get } from '../helpers/http.js';
import { startTestEdge, until, metricValue, type TestEdge } from '../helpers/edge.js';

const BODY = 'x'.repeat(500);
/** Path → the raw bytes the origin answers it with, before closing. */
const ANSWERS: Record<string, string> = {
  '/short-close.jpg': `HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\n\r\n${BODY}`,
  '/short-http10.jpg': `HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\n\r\n${BODY}`,
  '/short-keepalive.jpg': `HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nCache-Control: max-age=600\r\nConnection: keep-alive\r\nContent-Length: 1000\r\n\r\n${BODY}`,
  '/two-lengths.jpg': `HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\nContent-Length: 500\r\n\r\n${BODY}`,
  '/chunked-and-length.jpg': `HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nCache-Control: max-age=600\r\nContent-Length: 1000\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n${BODY}\r\n0\r\n\r\n`,
};

let server: net.Server;
let edge: TestEdge;
const sockets = new Set<net.Socket>();

before(async () => {
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const target = head.split(' ')[1] ?? '/';
      head = '';
      const answer = ANSWERS[target];
      if (!answer) return void socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      // A keep-alive liar leaves the connection open: the edge's between-bytes timeout must end it.
      if (target === '/short-keepalive.jpg') socket.write(answer);
      else socket.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  edge = await startTestEdge(`http://127.0.0.1:${port}`, { args: ['--origin-timeout-ms', '1000'] });
});

after(async () => {
  await edge.close();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

for (const target of Object.keys(ANSWERS)) {
  test(`an origin announcing 1000 bytes and sending 500 (${target.slice(1, -4)}): no complete 200, nothing stored`, async () => {
    const okBefore = await metricValue(edge.edge, 'imgedge_origin_fetches_total', { result: 'ok' });
    const objectsBefore = await metricValue(edge.edge, 'imgedge_cache_objects');
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await get(edge.url, target);
      assert.ok(!(res.status === 200 && res.complete), `attempt ${attempt}: a ${res.status} with ${res.body.length} bytes, complete: ${res.complete}`);
      assert.notEqual(res.body.length, 1000);
      assert.doesNotMatch(String(res.headers['cache-status']), /hit/, 'never served from the cache');
    }
    await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fetches to end');
    assert.equal(await metricValue(edge.edge, 'imgedge_cache_objects'), objectsBefore, 'nothing stored');
    assert.equal(await metricValue(edge.edge, 'imgedge_origin_fetches_total', { result: 'ok' }), okBefore, 'no fetch counted as good');
  });
}
