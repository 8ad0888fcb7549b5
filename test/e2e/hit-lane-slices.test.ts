// Big answers from memory go out a slice at a time, and other connections'
// answers go out between the slices: one client's megabyte does not hold up
// everyone else. What the edge hands its sockets is recorded (each write's
// connection and size, in order) while real clients send real requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { startTestEdge, until, metricValue, type TestEdge } from '../helpers/edge.js';

const SLICE = 256 * 1024;
/** The largest head a hit can have here: the slices are body, the head goes with the first. */
const HEAD_ROOM = 2048;
const small = bytes(8192, 'slices-small');
const big = bytes(1024 * 1024, 'slices-big');

let origin: TestOrigin;
let edge: TestEdge;
/** Every write the edge made to a public socket: the client's port and the bytes. */
const writes: { port: number; bytes: number }[] = [];

before(async () => {
  origin = await TestOrigin.start();
  origin.set('/slices/small.jpg', { body: small });
  origin.set('/slices/big.jpg', { body: big });
  edge = await startTestEdge(origin.url, { args: ['--memory-cache-bytes', '64MiB'] });
  // Runs before the lane adopts the socket: every write of its answers is seen.
  edge.edge.publicApp.server.prependListener('connection', (socket: net.Socket) => {
    const port = socket.remotePort ?? 0;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk, 'latin1') : (chunk as Buffer).length;
      if (size > 0) writes.push({ port, bytes: size });
      return write(chunk, ...rest);
    }) as typeof socket.write;
  });
  for (const path of ['/slices/small.jpg', '/slices/big.jpg']) {
    await get(edge.url, path);
    await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fill to end');
    // The first hit reads the object from disk into memory; later ones are the lane's.
    await until(async () => /hit/.test(String((await get(edge.url, path)).headers['cache-status'])), `${path} to hit`);
  }
});

after(async () => {
  await edge.close();
  await origin.stop();
});

interface Client {
  readonly socket: net.Socket;
  readonly port: number;
  /** Resolves with the body bytes of `count` answers once all have arrived. */
  readonly answers: Promise<Buffer[]>;
}

async function connect(count: number): Promise<Client> {
  const socket = net.connect(Number(new URL(edge.url).port), '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  const answers = new Promise<Buffer[]>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const bodies: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (;;) {
        const end = received.indexOf('\r\n\r\n');
        if (end === -1) return;
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(received.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (received.length < end + 4 + length) return;
        bodies.push(received.subarray(end + 4, end + 4 + length));
        received = received.subarray(end + 4 + length);
        if (bodies.length === count) return resolve(bodies);
      }
    });
    socket.on('close', () => reject(new Error(`closed after ${bodies.length} of ${count} answers`)));
  });
  answers.catch(() => {});
  return { socket, port: socket.localPort!, answers };
}

const getHead = (path: string) => `GET ${path} HTTP/1.1\r\nHost: edge\r\n\r\n`;

test('a megabyte from memory goes out in slices, and small answers on other connections go out between them', async () => {
  const bigClients = await Promise.all(Array.from({ length: 3 }, () => connect(2)));
  const smallClients = await Promise.all(Array.from({ length: 6 }, () => connect(1)));
  const all = [...bigClients, ...smallClients];
  try {
    // Every connection adopted by the lane before any request is sent...
    const ports = new Set(all.map((c) => c.port));
    await until(() => [...edge.edge.publicApp.server.listeners('connection')].length > 0 && ports.size === all.length, 'the clients to connect');
    writes.length = 0;
    // ...and every request written in one turn of this loop, so the edge reads them all in one of its own.
    for (const client of bigClients) client.socket.write(getHead('/slices/big.jpg') + getHead('/slices/big.jpg'));
    for (const client of smallClients) client.socket.write(getHead('/slices/small.jpg'));
    const bodies = await Promise.all(all.map((c) => c.answers));
    for (const body of bodies.slice(0, bigClients.length).flat()) assert.equal(sha256(body), sha256(big));
    for (const body of bodies.slice(bigClients.length).flat()) assert.equal(sha256(body), sha256(small));

    const largest = Math.max(...writes.map((w) => w.bytes));
    assert.ok(largest <= SLICE + HEAD_ROOM, `a write of ${largest} bytes: bodies over ${SLICE} bytes go out a slice at a time`);
    for (const client of bigClients) {
      const own = writes.filter((w) => w.port === client.port);
      assert.ok(own.length >= (2 * big.length) / SLICE, `${own.length} writes for two megabytes`);
      const sent = own.reduce((sum, w) => sum + w.bytes, 0);
      assert.ok(sent >= 2 * big.length && sent < 2 * (big.length + HEAD_ROOM), `${sent} bytes written`);
    }
    const lastBigWrite = Math.max(...bigClients.map((c) => writes.findLastIndex((w) => w.port === c.port)));
    const firstBigWrite = Math.min(...bigClients.map((c) => writes.findIndex((w) => w.port === c.port)));
    const smallAt = smallClients.map((c) => writes.findIndex((w) => w.port === c.port));
    assert.ok(smallAt.every((at) => at !== -1), 'every small answer was written');
    assert.ok(
      smallAt.filter((at) => at < lastBigWrite).length >= smallClients.length / 2,
      `small answers at writes ${smallAt.join(', ')}, the big answers' last slice at ${lastBigWrite}: they waited for the megabytes`,
    );
    // The big connections' slices take turns too: none is written whole before another starts.
    const firstEnds = Math.min(...bigClients.map((c) => writes.findLastIndex((w) => w.port === c.port)));
    assert.ok(firstBigWrite >= 0 && bigClients.every((c) => writes.findIndex((w) => w.port === c.port) < firstEnds), 'the big answers interleave');
  } finally {
    for (const client of all) client.socket.destroy();
  }
});
