// The WAN link on its own, on 127.0.0.1: bytes in order and intact under
// jitter and loss, the delay measured (as a ratio of what was asked), loss
// stalls counted, and cut (drop and freeze) and heal; and the same through
// the process the simulation runs its links in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { WanLink, type LinkOptions } from '../../sim/link.js';
import { LinkHost } from '../../sim/links.js';
import { Random } from '../../soak/random.js';

async function echoServer(): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function withLink(options: Omit<LinkOptions, 'listenHost' | 'targets'>, body: (link: WanLink) => Promise<void>): Promise<void> {
  const echo = await echoServer();
  const link = await WanLink.open({ listenHost: '127.0.0.1', targets: [{ host: '127.0.0.1', port: echo.port }], ...options });
  try {
    await body(link);
  } finally {
    await link.close();
    await echo.close();
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `payload` in pieces of random sizes, ends, and collects the echo until the far end closes. */
async function roundTrip(port: number, payload: Buffer, random: Random): Promise<Buffer> {
  const socket = await connect(port);
  const received: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(received)));
    socket.on('error', reject);
  });
  for (let at = 0; at < payload.length; ) {
    const size = random.int(1, 64 * 1024);
    socket.write(payload.subarray(at, at + size));
    at += size;
    if (random.chance(0.2)) await new Promise((resolve) => setTimeout(resolve, random.int(0, 5)));
  }
  socket.end();
  const echoed = await done;
  socket.destroy();
  return echoed;
}

/** Round-trip times of small messages, one at a time, on one connection. */
async function pings(port: number, count: number): Promise<number[]> {
  const socket = await connect(port);
  const times: number[] = [];
  let answer: ((error?: Error) => void) | null = null;
  socket.on('data', () => answer?.());
  socket.on('error', (error) => answer?.(error));
  try {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        answer = (error) => (error ? reject(error) : resolve());
        socket.write('x');
      });
      times.push(performance.now() - started);
    }
  } finally {
    socket.destroy();
  }
  return times;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('bytes arrive in order and intact under jitter and loss', { timeout: 30_000 }, async () => {
  const random = new Random(23);
  await withLink({ delayMs: 5, jitterMs: 20, lossPct: 5, rtoMs: 20, random: () => random.next() }, async (link) => {
    const payloads = [randomBytes(3 * 1024 * 1024), randomBytes(100_000), randomBytes(1)];
    const echoed = await Promise.all(payloads.map((p, i) => roundTrip(link.port, p, new Random(i))));
    for (const [i, payload] of payloads.entries()) {
      assert.equal(echoed[i]!.length, payload.length);
      assert.equal(sha(echoed[i]!), sha(payload), `payload ${i} intact and in order`);
    }
    assert.equal(link.stats.bytesUp, payloads.reduce((n, p) => n + p.length, 0));
    assert.equal(link.stats.bytesDown, link.stats.bytesUp);
    assert.equal(link.stats.connections, 3);
  });
});

test('the one-way delay is added in each direction', { timeout: 30_000 }, async () => {
  const echo = await echoServer();
  const direct = Math.min(...(await pings(echo.port, 10)));
  await echo.close();
  await withLink({ delayMs: 40 }, async (link) => {
    // The fastest of ten round trips: a busy machine only ever adds to a time, so
    // the minimum is the one least disturbed. Timers never fire early, hence the
    // tight low side; the high side would catch a delay applied twice.
    const measured = Math.min(...(await pings(link.port, 10)));
    const ratio = (measured - direct) / 80;
    assert.ok(ratio >= 0.97 && ratio <= 1.6, `round trip ${measured.toFixed(1)} ms (direct ${direct.toFixed(1)} ms): ${ratio.toFixed(2)} × the 80 ms asked for`);
  });
});

test('loss stalls a chunk (and those behind it) for one retransmission timeout', { timeout: 30_000 }, async () => {
  await withLink({ delayMs: 1, lossPct: 100, rtoMs: 150 }, async (link) => {
    const began = Date.now();
    const times = await pings(link.port, 3);
    assert.equal(link.stats.stalls, link.stats.chunks, 'every chunk stalled');
    assert.equal(link.stallsAt.length, link.stats.stalls, 'each stall has its time');
    assert.ok(link.stallsAt.every((at, i) => at >= began && at >= (link.stallsAt[i - 1] ?? 0)), 'in the order they happened');
    assert.equal(link.stats.chunks, 6, 'three pings, each one chunk each way');
    for (const time of times) assert.ok(time >= 300, `a ping through two stalls took ${time.toFixed(0)} ms`);
  });
  const random = new Random(5);
  await withLink({ delayMs: 0, lossPct: 10, rtoMs: 5, random: () => random.next() }, async (link) => {
    await pings(link.port, 100);
    const { stalls, chunks } = link.stats;
    assert.equal(chunks, 200);
    // 10% of 200 with a fixed seed; the bounds are binomial's ±4σ.
    assert.ok(stalls >= 4 && stalls <= 37, `${stalls} stalls in ${chunks} chunks`);
  });
});

test('a cut drops connections and refuses new ones; a heal lets them through', { timeout: 30_000 }, async () => {
  await withLink({ delayMs: 1 }, async (link) => {
    const socket = await connect(link.port);
    const ended = new Promise<string>((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.on('close', () => resolve('closed'));
    });
    link.cut('drop');
    assert.equal(await ended, 'ECONNRESET');
    const refused = await pings(link.port, 1).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code);
    assert.equal(refused, 'ECONNRESET');
    assert.equal(link.stats.refused, 1);
    link.heal();
    assert.equal((await pings(link.port, 2)).length, 2);
  });
});

test('a frozen link holds bytes until the heal, then delivers them in order', { timeout: 30_000 }, async () => {
  await withLink({ delayMs: 1 }, async (link) => {
    const socket = await connect(link.port);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write('before ');
    const arrived = Date.now() + 5000;
    while (Buffer.concat(received).length < 'before '.length && Date.now() < arrived) await new Promise((resolve) => setTimeout(resolve, 10));
    link.cut('freeze');
    socket.write('during ');
    socket.write('the cut');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(Buffer.concat(received).toString(), 'before ', 'nothing crosses a frozen link');
    const refused = await pings(link.port, 1).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code);
    assert.equal(refused, 'ECONNRESET', 'new connections are refused while cut');
    link.heal();
    const deadline = Date.now() + 5000;
    while (Buffer.concat(received).length < 'before during the cut'.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(Buffer.concat(received).toString(), 'before during the cut');
    socket.destroy();
  });
});

test('a link to several replicas takes each in turn and passes over one that refuses', { timeout: 30_000 }, async () => {
  const echoes = [await echoServer(), await echoServer()];
  const dead = await echoServer();
  await dead.close();
  const [first, second] = echoes.map((echo) => ({ host: '127.0.0.1', port: echo.port }));
  const link = await WanLink.open({ listenHost: '127.0.0.1', targets: [first!, { host: '127.0.0.1', port: dead.port }, second!], delayMs: 1 });
  try {
    for (let k = 0; k < 6; k++) {
      assert.equal((await pings(link.port, 1)).length, 1, `connection ${k} answered`);
    }
    assert.equal(link.stats.connections, 6);
    assert.equal(link.stats.refused, 0);
    // Turns over [a, dead, b]: a, dead then b, a, dead then b...: the dead one's share goes on to the next.
    assert.deepEqual(echoes.map((echo) => echo.accepted()), [3, 3]);
  } finally {
    await link.close();
    for (const echo of echoes) await echo.close();
  }
});

test('links in a process of their own: the delay added, bytes intact, a freeze held until the heal, the figures read back', { timeout: 30_000 }, async () => {
  const echo = await echoServer();
  const host = await LinkHost.start();
  try {
    const link = await host.open({ listenHost: '127.0.0.1', targets: [{ host: '127.0.0.1', port: echo.port }], delayMs: 20, lossPct: 0, seed: 5 });
    const payload = randomBytes(200_000);
    const echoed = await roundTrip(link.port, payload, new Random(1));
    assert.equal(sha(echoed), sha(payload), 'intact and in order');
    const measured = Math.min(...(await pings(link.port, 5)));
    assert.ok(measured >= 40, `round trip ${measured.toFixed(1)} ms, at least the 40 ms asked for`);
    await link.cut('freeze');
    const refused = await pings(link.port, 1).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code);
    assert.equal(refused, 'ECONNRESET', 'new connections are refused while cut');
    await link.heal();
    assert.equal((await pings(link.port, 1)).length, 1, 'answered again after the heal');
    await host.readFigures();
    assert.deepEqual(
      { up: link.stats.bytesUp, down: link.stats.bytesDown, connections: link.stats.connections, refused: link.stats.refused },
      { up: payload.length + 6, down: payload.length + 6, connections: 3, refused: 1 },
    );
  } finally {
    await host.close();
    await echo.close();
  }
});
