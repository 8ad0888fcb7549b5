// Hits answered straight on the socket, and the hand-over to Node's HTTP
// server at the first request the lane leaves to the app: over raw
// connections, pipelined, split, mixed with misses, conditions and ranges.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { startTestEdge, until, metricValue, type TestEdge } from '../helpers/edge.js';

let origin: TestOrigin;
let edge: TestEdge;
const small = bytes(8192, 'lane-small');
const other = bytes(5000, 'lane-other');
const big = bytes(1024 * 1024, 'lane-big');

interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * Writes `parts` to one connection (each part a separate write, `gapMs`
 * apart) and reads `count` answers, each framed by its Content-Length
 * (none for HEAD: `heads` lists which answers have no body).
 */
async function exchange(parts: string[], count: number, { heads = new Set<number>(), gapMs = 0 } = {}): Promise<RawAnswer[]> {
  const port = Number(new URL(edge.url).port);
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  try {
    let received = Buffer.alloc(0);
    const answers: RawAnswer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${answers.length} of ${count} answers: ${received.toString('latin1').slice(0, 300)}`)), 10_000);
      const parse = () => {
        for (;;) {
          const end = received.indexOf('\r\n\r\n');
          if (end === -1) return;
          const head = received.subarray(0, end).toString('latin1');
          const headers: Record<string, string> = {};
          for (const line of head.split('\r\n').slice(1)) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
          }
          const length = heads.has(answers.length) ? 0 : Number(headers['content-length'] ?? 0);
          if (received.length < end + 4 + length) return;
          answers.push({ status: Number(head.split(' ')[1]), head, headers, body: received.subarray(end + 4, end + 4 + length) });
          received = received.subarray(end + 4 + length);
          if (answers.length === count) {
            clearTimeout(timer);
            resolve();
            return;
          }
        }
      };
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        parse();
      });
      socket.on('close', () => reject(new Error(`closed after ${answers.length} of ${count} answers`)));
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    for (const part of parts) {
      socket.write(part, 'latin1');
      if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    await done;
    return answers;
  } finally {
    socket.destroy();
  }
}

const getHead = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: edge\r\n${extra}\r\n`;

/** Fetches `path` until it is a hit from memory (a second read of a small object puts it there). */
async function warm(path: string): Promise<void> {
  await get(edge.url, path);
  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) >= 1, 'the object to be stored');
  await until(async () => /hit/.test(String((await get(edge.url, path)).headers['cache-status'])), `${path} to hit`);
  await get(edge.url, path);
}

before(async () => {
  origin = await TestOrigin.start();
  origin.set('/lane/small.jpg', { body: small });
  origin.set('/lane/other.jpg', { body: other });
  origin.set('/lane/big.jpg', { body: big });
  origin.set('/lane/cold.jpg', { body: bytes(3000, 'cold') });
  edge = await startTestEdge(origin.url, { args: ['--memory-cache-bytes', '64MiB', '--log-level', 'info'] });
  await warm('/lane/small.jpg');
  await warm('/lane/other.jpg');
  await warm('/lane/big.jpg');
});

after(async () => {
  await edge.close();
  await origin.stop();
});

test('pipelined hits come back in order, whole, with the same headers a hit always has', async () => {
  const [first, head, second] = await exchange(
    [getHead('/lane/small.jpg') + `HEAD /lane/other.jpg HTTP/1.1\r\nHost: edge\r\n\r\n` + getHead('/lane/other.jpg')],
    3,
    { heads: new Set([1]) },
  );
  assert.equal(first!.status, 200);
  assert.equal(sha256(first!.body), sha256(small));
  assert.match(first!.headers['cache-status']!, /^imgedge; hit; ttl=\d+$/);
  assert.match(first!.headers.age!, /^\d+$/);
  assert.ok(first!.headers.date && first!.headers.etag && first!.headers['last-modified']);
  assert.equal(first!.headers['content-length'], String(small.length));
  assert.equal(first!.headers['accept-ranges'], 'bytes');
  // Written by the lane: Node's own server would have capitalised Date.
  assert.match(first!.head, /\r\ndate: /);
  assert.equal(head!.status, 200);
  assert.equal(head!.headers['content-length'], String(other.length));
  assert.equal(sha256(second!.body), sha256(other));
});

test('a head that arrives a few bytes at a time is answered once whole', async () => {
  const text = getHead('/lane/small.jpg', 'User-Agent: drip\r\n');
  const parts = text.match(/[\s\S]{1,7}/g)!;
  const [answer] = await exchange(parts, 1, { gapMs: 5 });
  assert.equal(answer!.status, 200);
  assert.equal(sha256(answer!.body), sha256(small));
});

test('a miss in the middle of pipelined hits goes to the app, which answers it and all after it, in order', async () => {
  const before = origin.requests.length;
  const answers = await exchange(
    [getHead('/lane/small.jpg') + getHead('/lane/cold.jpg') + getHead('/lane/other.jpg') + getHead('/lane/small.jpg')],
    4,
  );
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
  assert.deepEqual(answers.map((a) => sha256(a.body)), [small, bytes(3000, 'cold'), other, small].map(sha256));
  assert.match(answers[1]!.headers['cache-status']!, /fwd=miss/);
  assert.equal(origin.requests.length - before, 1, 'only the cold object went to the origin');
});

test('conditions and ranges on a hot object are the app\'s, and right', async () => {
  const etag = (await get(edge.url, '/lane/small.jpg')).headers.etag as string;
  const [unchanged, slice, whole] = await exchange(
    [getHead('/lane/small.jpg', `If-None-Match: ${etag}\r\n`) + getHead('/lane/small.jpg', 'Range: bytes=10-19\r\n') + getHead('/lane/small.jpg')],
    3,
    { heads: new Set([0]) },
  );
  assert.equal(unchanged!.status, 304);
  assert.equal(slice!.status, 206);
  assert.equal(slice!.headers['content-range'], `bytes 10-19/${small.length}`);
  assert.deepEqual(slice!.body, small.subarray(10, 20));
  assert.equal(sha256(whole!.body), sha256(small));
});

test('a megabyte from memory goes out whole while other connections are answered', async () => {
  const results = await Promise.all([
    ...Array.from({ length: 4 }, () => exchange([getHead('/lane/big.jpg') + getHead('/lane/big.jpg')], 2)),
    ...Array.from({ length: 8 }, () => exchange([getHead('/lane/small.jpg')], 1)),
  ]);
  for (const answers of results) {
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(sha256(answer.body), sha256(answer.body.length === big.length ? big : small));
    }
  }
});

test('what a parser must refuse is refused, even when it names a hot object', async () => {
  for (const smuggled of [
    getHead('/lane/small.jpg', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n'),
    'GET /lane/small.jpg HTTP/1.1\r\nHost: edge\r\nHost: other\r\n\r\n',
    'GET /lane/small.jpg HTTP/1.1\r\nHost: edge\r\n folded: value\r\n\r\n',
    'GET /lane/small.jpg HTTP/1.1\r\nHost : edge\r\n\r\n',
  ]) {
    const [answer] = await exchange([smuggled], 1);
    assert.equal(answer!.status, 400, smuggled);
  }
  const [missingHost] = await exchange(['GET /lane/small.jpg HTTP/1.1\r\n\r\n'], 1);
  assert.equal(missingHost!.status, 400);
});

test('an unnormalised path to a hot object is normalised by the app and answered the same', async () => {
  const [answer] = await exchange([getHead('/lane/./x/../small.jpg')], 1);
  assert.equal(answer!.status, 200);
  assert.equal(sha256(answer!.body), sha256(small));
});

test('lane hits are counted as hits', async () => {
  const hitsBefore = await metricValue(edge.edge, 'imgedge_requests_total', { cache_status: 'hit', status_class: '2xx' });
  await exchange([getHead('/lane/small.jpg', 'X-Request-Id: lane-probe-1\r\n') + getHead('/lane/small.jpg')], 2);
  const hitsAfter = await metricValue(edge.edge, 'imgedge_requests_total', { cache_status: 'hit', status_class: '2xx' });
  assert.equal(hitsAfter - hitsBefore, 2);
});

test('on shutdown a kept-alive lane connection is closed and the edge stops without waiting for it', async () => {
  const own = await startTestEdge(origin.url);
  try {
    await get(own.url, '/lane/other.jpg');
    await until(async () => /hit/.test(String((await get(own.url, '/lane/other.jpg')).headers['cache-status'])), 'a hit');
    const socket = net.connect(Number(new URL(own.url).port), '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write(getHead('/lane/other.jpg'));
    await answered;
    const started = Date.now();
    await own.close();
    await closed;
    // The keep-alive timeout is the default --client-timeout-ms, 30 s: half of it tells the two apart under any load.
    assert.ok(Date.now() - started < 15_000, 'the edge did not wait out the keep-alive timeout');
  } finally {
    await own.close();
  }
});

test('past --client-timeout-ms the lane cuts a head that never ends (408) and an idle connection, never one still asking', async (t) => {
  const timeoutMs = 2000;
  const own = await startTestEdge(origin.url, { args: ['--client-timeout-ms', String(timeoutMs)] });
  const port = Number(new URL(own.url).port);
  const open = (): { socket: net.Socket; text: () => string; closedAfter: Promise<number> } => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const opened = Date.now();
    return { socket, text: () => text, closedAfter: new Promise((resolve) => socket.once('close', () => resolve(Date.now() - opened))) };
  };
  const timers: NodeJS.Timeout[] = [];
  try {
    await get(own.url, '/lane/other.jpg');
    await until(async () => /hit/.test(String((await get(own.url, '/lane/other.jpg')).headers['cache-status'])), 'a hit');
    // An upper bound only, for a cut that never comes: generous, so a loaded machine does not fail it.
    const bound = 5 * timeoutMs + 5000;

    // A plain head for a hot object, dripped a byte every 200 ms and never finished.
    const dripped = open();
    const rest = 'X-Drip: ' + 'd'.repeat(200);
    let at = 0;
    dripped.socket.write('GET /lane/other.jpg HTTP/1.1\r\nHost: edge\r\n');
    timers.push(setInterval(() => at < rest.length && dripped.socket.write(rest[at++]!), 200));
    // Answered once, then silent.
    const idle = open();
    idle.socket.write(getHead('/lane/other.jpg'));
    // A hit every 250 ms for three timeouts: busy, so never idle.
    const busy = open();
    let asked = 0;
    // The longest this client went without asking: a machine too loaded to keep the pace says so.
    let lastAsked = Date.now();
    let longestGap = 0;
    const busyDone = new Promise<void>((resolve) => {
      const ask = setInterval(() => {
        longestGap = Math.max(longestGap, Date.now() - lastAsked);
        lastAsked = Date.now();
        if (++asked > Math.ceil((3 * timeoutMs) / 250)) {
          clearInterval(ask);
          resolve();
          return;
        }
        busy.socket.write(getHead('/lane/other.jpg'));
      }, 250);
      timers.push(ask);
    });

    const [drippedMs, idleMs] = await Promise.all([dripped.closedAfter, idle.closedAfter].map((p) => Promise.race([
      p, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`a connection still open after ${bound} ms`)), bound)),
    ])));
    assert.ok(drippedMs! >= timeoutMs, `the dripped head was cut after ${drippedMs} ms, before its time`);
    assert.ok(dripped.text().startsWith('HTTP/1.1 408'), dripped.text().slice(0, 100));
    assert.ok(idleMs! >= timeoutMs, `the idle connection was cut after ${idleMs} ms, before its time`);
    assert.match(idle.text(), /^HTTP\/1\.1 200/);
    await busyDone;
    if (longestGap >= timeoutMs / 2) {
      // The client itself stalled for a good part of the timeout: an idle cut would be right, nothing to check.
      t.diagnostic(`the busy client paused ${longestGap} ms between requests (load): its connection is not checked`);
      busy.socket.destroy();
      return;
    }
    assert.ok(!busy.socket.destroyed, `the connection still asking was cut (longest pause between its requests ${longestGap} ms)`);
    assert.equal(busy.text().match(/HTTP\/1\.1 200 /g)?.length, asked - 1, 'every request on it answered');
    busy.socket.destroy();
  } finally {
    timers.forEach(clearInterval);
    await own.close();
  }
});
