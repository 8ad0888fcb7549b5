// Clients that mean harm, against a real edge child process: slowloris,
// a reader that takes one byte a second, thousands of idle connections,
// oversized heads, request smuggling. The edge must cut them off or refuse
// them, keep serving everyone else the right bytes, and stay small.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, tempDir, type EdgeProcess } from '../helpers/edge.js';
import { procSample } from '../../soak/sampler.js';

const CLIENT_TIMEOUT_MS = 1000;
const MiB = 1024 * 1024;
let origin: TestOrigin;
/** Tight client limits: slowloris, heads, smuggling. */
let tight: EdgeProcess;
/** A patient edge (20 s client timeout), so idle and slow clients stay connected while we look. */
let patient: EdgeProcess;
const dirs: string[] = [];
const sockets = new Set<net.Socket>();
const rssAtStart = new Map<EdgeProcess, number>();
const victim = bytes(300_000, 'victim');
const big = bytes(16 * MiB, 'big');
const hitBig = bytes(16 * MiB, 'hit-big');
let slowloris: Promise<{ ms: number; response: string }>;

async function edge(extra: string[]): Promise<EdgeProcess> {
  const dir = tempDir('hostile');
  dirs.push(dir);
  return spawnEdge(['edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--cache-dir', path.join(dir, 'cache'), '--log-level', 'info', ...extra]);
}

function rssMiB(edge: EdgeProcess): number {
  const seen = procSample(edge.child.pid!);
  assert.ok(seen, 'the edge is running');
  return seen.rssKiB / 1024;
}

function portOf(edge: EdgeProcess): number {
  return Number(new URL(edge.url).port);
}

/** A raw connection, tracked so that `after` destroys whatever a failed test left open. */
function connect(edge: EdgeProcess): net.Socket {
  const socket = net.connect(portOf(edge), '127.0.0.1');
  socket.on('error', () => {});
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  return socket;
}

/** Sends raw bytes; resolves with all that came back once the edge closes or goes quiet for `quietMs`. */
function exchangeRaw(edge: EdgeProcess, payload: string, quietMs = 700): Promise<{ text: string; closedByEdge: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(edge);
    let text = '';
    let quiet: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        socket.destroy();
        resolve({ text, closedByEdge: false });
      }, quietMs);
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      arm();
    });
    socket.on('close', () => {
      clearTimeout(quiet);
      resolve({ text, closedByEdge: true });
    });
    socket.write(payload);
    arm();
  });
}

/** The promise's value, or null after `ms`; the timer never outlives the answer. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const statusLines = (text: string) => text.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];

async function servesVictim(edge: EdgeProcess): Promise<void> {
  const res = await get(edge.url, '/victim.jpg');
  assert.equal(res.status, 200);
  assert.ok(res.complete);
  assert.equal(sha256(res.body), sha256(victim), 'the victim object is intact');
}

before(async () => {
  origin = await TestOrigin.start();
  origin.set('/victim.jpg', { body: victim });
  origin.set('/big-cold.jpg', { body: big, bodyMs: 1000 });
  origin.set('/big-hit.jpg', { body: hitBig });
  for (let i = 0; i < 50; i++) origin.set(`/other/${i}.jpg`, { body: bytes(2000 + i * 500, `other${i}`) });
  [tight, patient] = await Promise.all([
    edge(['--client-timeout-ms', String(CLIENT_TIMEOUT_MS), '--max-header-bytes', '8KiB']),
    edge(['--client-timeout-ms', '20000']),
  ]);
  // Memory is compared with a warmed edge: the first big bodies grow Node's pools once.
  await Promise.all([servesVictim(tight), servesVictim(patient), get(patient.url, '/big-hit.jpg')]);
  for (const e of [tight, patient]) rssAtStart.set(e, rssMiB(e));
  // Started first: without connectionsCheckingInterval set, only Node's 30 s check cuts it.
  slowloris = new Promise((resolve) => {
    const socket = connect(tight);
    const started = Date.now();
    let response = '';
    socket.write('GET /victim.jpg HTTP/1.1\r\nHost: edge\r\n');
    const header = `X-Slow: ${'s'.repeat(100_000)}`;
    let at = 0;
    const drip = setInterval(() => socket.write(header[at++ % header.length]!), 200);
    socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
    socket.once('close', () => {
      clearInterval(drip);
      resolve({ ms: Date.now() - started, response });
    });
  });
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const e of [tight, patient]) e?.kill('SIGKILL');
  await Promise.all([tight, patient].filter(Boolean).map((e) => e.exited));
  await origin.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

// Until 563ab9c this failed: Node checks head timeouts every connectionsCheckingInterval
// (30 s by default) and each dripped byte resets the idle timeout.
test('slowloris: a head dripped a byte every 200 ms is cut within --client-timeout-ms', async (t) => {
  // An upper bound for a cut that never comes: generous, so a loaded machine does not fail it.
  const bound = 5 * CLIENT_TIMEOUT_MS + 5000;
  const cut = await within(slowloris, bound);
  assert.ok(cut, `the slowloris connection is still open after ${bound} ms`);
  t.diagnostic(`slowloris cut after ${cut.ms} ms`);
});

test('oversized head: 431, the connection closed, and the edge keeps serving', async () => {
  const long = await exchangeRaw(tight, `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nX-Big: ${'b'.repeat(10 * 1024)}\r\n\r\n`);
  assert.deepEqual(statusLines(long.text), ['HTTP/1.1 431']);
  assert.ok(long.closedByEdge);
  const many = await exchangeRaw(tight, `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\n${Array.from({ length: 400 }, (_, i) => `X-H${i}: vvvvvvvvvvvvvvvvvvvv\r\n`).join('')}\r\n`);
  assert.deepEqual(statusLines(many.text), ['HTTP/1.1 431']);
  await servesVictim(tight);
});

const SMUGGLED = (n: number) => `GET /smuggled-${n}.jpg HTTP/1.1\r\nHost: edge\r\n\r\n`;
const ATTEMPTS: { name: string; payload: string; answer: 'refused' | 'one answer' }[] = [
  { name: 'CL and TE: chunked together', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nContent-Length: 45\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED(1)}`, answer: 'refused' },
  { name: 'TE: chunked then CL', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n${SMUGGLED(2)}`, answer: 'refused' },
  { name: 'two different Content-Lengths', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n${SMUGGLED(3)}`, answer: 'refused' },
  { name: 'two equal Content-Lengths', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nContent-Length: 40\r\nContent-Length: 40\r\n\r\n${SMUGGLED(4)}`, answer: 'refused' },
  { name: 'obs-fold', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nX-Folded: a\r\n b\r\n\r\n${SMUGGLED(5)}`, answer: 'refused' },
  { name: 'obs-fold hiding chunked', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: identity\r\n ,chunked\r\n\r\n0\r\n\r\n${SMUGGLED(6)}`, answer: 'refused' },
  { name: 'TE: xchunked', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED(7)}`, answer: 'refused' },
  { name: 'space before the colon', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nContent-Length : 40\r\n\r\n${SMUGGLED(8)}`, answer: 'refused' },
  { name: 'a request hidden in a chunked body', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED(9).length.toString(16)}\r\n${SMUGGLED(9)}\r\n0\r\n\r\n`, answer: 'one answer' },
  // Framed by its chunks or its Content-Length, the hidden request is body: one answer, for the victim.
  { name: 'a request hidden in a Content-Length body', payload: `GET /victim.jpg HTTP/1.1\r\nHost: edge\r\nContent-Length: ${SMUGGLED(10).length}\r\n\r\n${SMUGGLED(10)}`, answer: 'one answer' },
];

test('request smuggling: refused or answered once, the hidden request never reaches the origin', async () => {
  const victimFetches = origin.count('/victim.jpg');
  for (const attempt of ATTEMPTS) {
    const { text } = await exchangeRaw(tight, attempt.payload);
    const answers = statusLines(text);
    if (attempt.answer === 'refused') assert.deepEqual(answers, ['HTTP/1.1 400'], attempt.name);
    else assert.deepEqual(answers, ['HTTP/1.1 200'], attempt.name);
    await servesVictim(tight);
  }
  const smuggled = origin.requests.filter((r) => r.url.startsWith('/smuggled'));
  assert.deepEqual(smuggled.map((r) => r.url), [], 'no smuggled request reached the origin');
  assert.equal(origin.count('/victim.jpg'), victimFetches, 'the cached victim was never refetched or replaced');
});

test('readers taking a byte a second do not hold up the fill, the others, or memory', async (t) => {
  await get(patient.url, '/big-hit.jpg');
  const baseline = rssMiB(patient);
  const slow: net.Socket[] = [];
  for (const target of ['/big-cold.jpg', '/big-hit.jpg']) {
    for (let i = 0; i < 10; i++) {
      const socket = connect(patient);
      socket.write(`GET ${target} HTTP/1.1\r\nHost: edge\r\n\r\n`);
      socket.pause();
      slow.push(socket);
    }
  }
  const trickle = setInterval(() => slow.forEach((s) => s.read(1)), 1000);
  try {
    // The fill runs at the origin's pace, whatever its slow readers do.
    const fast = await get(patient.url, '/big-cold.jpg');
    assert.equal(sha256(fast.body), sha256(big));
    assert.equal(origin.count('/big-cold.jpg'), 1, 'one fill, shared');
    const others = await Promise.all(Array.from({ length: 50 }, (_, i) => get(patient.url, `/other/${i}.jpg`)));
    others.forEach((res, i) => assert.equal(sha256(res.body), sha256(bytes(2000 + i * 500, `other${i}`))));
    // 20 readers of 16 MiB each: buffering them would cost 320 MiB.
    const during = rssMiB(patient);
    t.diagnostic(`edge RSS ${baseline.toFixed(0)} → ${during.toFixed(0)} MiB with 20 slow readers of 16 MiB`);
    assert.ok(during - baseline < 100, `RSS ${baseline.toFixed(0)} → ${during.toFixed(0)} MiB with 20 slow readers`);
    assert.ok(slow.every((s) => !s.destroyed), 'the slow readers are still connected (20 s client timeout)');
  } finally {
    clearInterval(trickle);
    slow.forEach((s) => s.destroy());
  }
});

test('idle connections, silent or kept alive after an answer, are closed within --client-timeout-ms', async () => {
  const bound = 5 * CLIENT_TIMEOUT_MS + 5000;
  const silent = connect(tight);
  const keptAlive = connect(tight);
  keptAlive.write('GET /victim.jpg HTTP/1.1\r\nHost: edge\r\n\r\n');
  keptAlive.resume();
  const closed = (s: net.Socket) => new Promise<true>((resolve) => s.once('close', () => resolve(true)));
  // Both listened for from the start: the two may close in the same turn.
  const [silentClosed, keptAliveClosed] = [closed(silent), closed(keptAlive)];
  assert.ok(await within(silentClosed, bound), `a silent connection is still open after ${bound} ms`);
  assert.ok(await within(keptAliveClosed, bound), `a kept-alive connection is still open after ${bound} ms`);
});

/** The soft open-file limit of this process (the edge child inherits it). */
function openFileLimit(): number {
  const line = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return line ? Number(line[1]) : 1024;
}

/** Opens `count` idle connections, checks the edge holds them and still serves, closes them; the edge's RSS and fds meanwhile. */
async function idleRound(count: number): Promise<{ rss: number; fds: number }> {
  const idle: net.Socket[] = [];
  try {
    for (let at = 0; at < count; at += 500) {
      const batch = Array.from({ length: Math.min(500, count - at) }, () => connect(patient));
      await Promise.all(batch.map((s) => new Promise((resolve) => s.once('connect', resolve).once('close', resolve))));
      idle.push(...batch);
    }
    assert.equal(idle.filter((s) => !s.destroyed).length, count, `${count} idle connections open`);
    // A client's connect completes in the kernel's backlog; the edge may still be accepting the last ones.
    const deadline = Date.now() + 10_000;
    let fds = procSample(patient.child.pid!)!.fds;
    while (fds < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      fds = procSample(patient.child.pid!)!.fds;
    }
    assert.ok(fds >= count, `the edge holds them: ${fds} fds`);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => get(patient.url, `/other/${i}.jpg`)));
    results.forEach((res, i) => assert.equal(sha256(res.body), sha256(bytes(2000 + i * 500, `other${i}`))));
    await servesVictim(patient);
    return { rss: rssMiB(patient), fds };
  } finally {
    idle.forEach((s) => s.destroy());
  }
}

test('many idle connections: the edge holds them, still serves, and lets them go', async (t) => {
  // Node cannot raise its own limit; both processes need one fd per connection.
  const count = Math.min(10_000, openFileLimit() - 1000);
  if (count < 1000) {
    t.skip(`ulimit -n is ${openFileLimit()} and cannot be raised here: 1,000 idle connections need 2,000`);
    return;
  }
  const baseline = { rss: rssMiB(patient), fds: procSample(patient.child.pid!)!.fds };
  const held = await idleRound(count);
  t.diagnostic(`${count} idle connections (ulimit -n ${openFileLimit()}); edge fds ${baseline.fds} → ${held.fds}; ` +
    `edge RSS ${baseline.rss.toFixed(0)} → ${held.rss.toFixed(0)} MiB`);
  assert.ok(held.rss - baseline.rss < 100, `RSS ${baseline.rss.toFixed(0)} → ${held.rss.toFixed(0)} MiB with ${count} idle connections`);
  // RSS after the sockets go depends on when V8 collects; the fds do not: every one must be closed.
  const deadline = Date.now() + 10_000;
  while (procSample(patient.child.pid!)!.fds > baseline.fds + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(procSample(patient.child.pid!)!.fds <= baseline.fds + 20, 'the edge closed its side of every idle connection');
});

test('the slowloris is cut in the end, and the edge served everyone meanwhile', async () => {
  const cut = await within(slowloris, 40_000);
  assert.ok(cut, 'the slowloris connection was never cut');
  assert.ok(cut.response === '' || cut.response.startsWith('HTTP/1.1 408'), cut.response);
  await servesVictim(tight);
});

test('memory after all that: under +100 MiB on either edge', async (t) => {
  for (const e of [tight, patient]) {
    const start = rssAtStart.get(e)!;
    // Freed memory shows in RSS when V8 gets to it, later on a loaded machine: waited for, up to 15 s.
    const deadline = Date.now() + 15_000;
    let now = rssMiB(e);
    while (now - start >= 100 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      now = rssMiB(e);
    }
    t.diagnostic(`edge RSS at start ${start.toFixed(0)} MiB, at the end ${now.toFixed(0)} MiB`);
    assert.ok(now - start < 100, `RSS ${start.toFixed(0)} → ${now.toFixed(0)} MiB`);
  }
});
