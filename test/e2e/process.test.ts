// The edge as an operator runs it: a real child process, restarted, killed
// with -9 mid-download, drained with SIGTERM, misconfigured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin, Gate } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, runToExit, tempDir, until, type EdgeProcess } from '../helpers/edge.js';

let origin: TestOrigin;
const running = new Set<EdgeProcess>();

before(async () => {
  origin = await TestOrigin.start();
});

after(async () => {
  for (const edge of running) edge.kill('SIGKILL');
  await origin.stop();
});

async function edgeOn(cacheDir: string, extra: string[] = []): Promise<EdgeProcess> {
  const edge = await spawnEdge([
    'edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--cache-dir', cacheDir, '--log-level', 'info', ...extra,
  ]);
  running.add(edge);
  void edge.exited.then(() => running.delete(edge));
  return edge;
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

test('a restarted edge serves what it stored without asking the origin', async () => {
  const cacheDir = path.join(tempDir('restart'), 'cache');
  const objects = Array.from({ length: 20 }, (_, i) => ({ path: `/restart/${i}.jpg`, body: bytes(1000 + i * 5000, `restart${i}`) }));
  for (const o of objects) origin.set(o.path, { body: o.body });
  const first = await edgeOn(cacheDir);
  for (const o of objects) assert.equal((await get(first.url, o.path)).status, 200);
  // A client has its last byte a moment before the fill commits: SIGTERM once every object is stored.
  await until(async () => /^imgedge_cache_objects 20$/m.test((await get(first.adminUrl, '/metrics')).body.toString()), 'the objects to be stored');
  first.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });

  const before = origin.requests.length;
  const second = await edgeOn(cacheDir);
  for (const o of objects) {
    const res = await get(second.url, o.path);
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), sha256(o.body));
    assert.match(String(res.headers['cache-status']), /^imgedge; hit/);
  }
  assert.equal(origin.requests.length, before, 'no request reached the origin after the restart');
  second.kill('SIGKILL');
  await second.exited;

  // After kill -9 too: the journal is replayed, or the files are adopted.
  const third = await edgeOn(cacheDir);
  for (const o of objects) assert.match(String((await get(third.url, o.path)).headers['cache-status']), /^imgedge; hit/);
  assert.equal(origin.requests.length, before);
  third.kill('SIGTERM');
  await third.exited;
});

test('kill -9 mid-download leaves no partial object that is later served', async () => {
  const cacheDir = path.join(tempDir('kill9'), 'cache');
  const body = bytes(2 * 1024 * 1024, 'kill9');
  const gate = new Gate();
  origin.set('/kill9.jpg', { body, gate, gateAfter: 512 * 1024 });
  const edge = await edgeOn(cacheDir);
  let received = 0;
  const cut = get(edge.url, '/kill9.jpg', { onData: (_c, n) => (received = n) });
  await until(() => received >= 512 * 1024, 'half a megabyte to reach the client');
  edge.kill('SIGKILL');
  const res = await cut;
  assert.ok(!res.complete, 'the cut response is not complete');
  assert.ok(filesUnder(path.join(cacheDir, 'tmp')).length > 0, 'the partial body was in tmp/');
  assert.equal(filesUnder(path.join(cacheDir, 'objects')).length, 0, 'nothing partial in objects/');

  gate.open();
  origin.set('/kill9.jpg', { body });
  const restarted = await edgeOn(cacheDir);
  assert.equal(filesUnder(path.join(cacheDir, 'tmp')).length, 0, 'tmp/ is emptied at start');
  const fetchesBefore = origin.count('/kill9.jpg');
  const again = await get(restarted.url, '/kill9.jpg');
  assert.ok(again.complete);
  assert.equal(sha256(again.body), sha256(body));
  assert.match(String(again.headers['cache-status']), /fwd=miss/);
  assert.equal(origin.count('/kill9.jpg'), fetchesBefore + 1);
  restarted.kill('SIGTERM');
  await restarted.exited;
});

test('SIGTERM: /readyz turns 503, the in-flight response finishes, exit 0', async () => {
  const cacheDir = path.join(tempDir('drain'), 'cache');
  const body = bytes(1024 * 1024, 'drain');
  const gate = new Gate();
  origin.set('/drain.jpg', { body, gate, gateAfter: 64 * 1024 });
  const edge = await edgeOn(cacheDir);
  let received = 0;
  const slow = get(edge.url, '/drain.jpg', { onData: (_c, n) => (received = n) });
  await until(() => received >= 64 * 1024, 'the slow response to be under way');
  edge.kill('SIGTERM');
  await until(async () => (await get(edge.adminUrl, '/readyz').catch(() => null))?.status === 503, '/readyz to say 503');
  await until(async () => (await get(edge.url, '/other.jpg').then(() => false, () => true)), 'the public port to stop accepting');
  gate.open();
  const res = await slow;
  assert.equal(res.status, 200);
  assert.ok(res.complete);
  assert.equal(sha256(res.body), sha256(body));
  assert.deepEqual(await edge.exited, { code: 0, signal: null });
});

test('no --origin, or a bad size, stops with exit 2 and a line naming the option', async () => {
  const dir = tempDir('config');
  const missing = await runToExit(['edge', '--cache-dir', dir]);
  assert.equal(missing.code, 2);
  assert.match(missing.output, /--origin/);
  assert.equal(missing.output.trim().split('\n').length, 1);
  const badSize = await runToExit(['edge', '--origin', 'http://127.0.0.1:9', '--cache-dir', dir, '--cache-max-bytes', 'lots']);
  assert.equal(badSize.code, 2);
  assert.match(badSize.output, /--cache-max-bytes/);
  const badEnv = await runToExit(['edge', '--origin', 'http://127.0.0.1:9'], { IMGEDGE_ORIGIN_TIMEOUT_MS: 'soon' });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.output, /--origin-timeout-ms/);
  const unknown = await runToExit(['edge', '--origin', 'http://127.0.0.1:9', '--colour', 'blue']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.output, /--colour/);
});

test('peering that cannot work stops the start with exit 2 naming the option', async () => {
  const table: [args: string[], flag: string][] = [
    [['--peers', 'http://127.0.0.1:1', '--self', 'http://127.0.0.2:1'], '--self'],
    [['--peers', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0'], '--listen'],
  ];
  for (const [args, flag] of table) {
    const run = await runToExit(['edge', '--origin', 'http://127.0.0.1:9', ...args]);
    assert.equal(run.code, 2, flag);
    assert.match(run.output, new RegExp(`imgedge: ${flag}: `), flag);
  }
});

test('COMMAND --help prints that command\'s options with their defaults and exits 0', async () => {
  const edge = await runToExit(['edge', '--help']);
  assert.equal(edge.code, 0);
  assert.match(edge.output, /--cache-max-bytes SIZE +.*\(default 10GiB\)/);
  assert.match(edge.output, /--origin URL/);
  const demo = await runToExit(['demo', '-h']);
  assert.equal(demo.code, 0);
  assert.match(demo.output, /--origin-listen HOST:PORT/);
});

test('IMGEDGE_* variables alone configure it, and a flag wins over its variable', async () => {
  const dir = tempDir('env');
  origin.set('/env.jpg', { body: bytes(900, 'env') });
  const edge = await spawnEdge(['edge'], {
    env: {
      IMGEDGE_ORIGIN: origin.url,
      IMGEDGE_LISTEN: '127.0.0.1:0',
      IMGEDGE_ADMIN_LISTEN: '127.0.0.1:0',
      IMGEDGE_CACHE_DIR: path.join(dir, 'cache'),
    },
  });
  running.add(edge);
  const res = await get(edge.url, '/env.jpg');
  assert.equal(sha256(res.body), sha256(bytes(900, 'env')));
  assert.ok(fs.existsSync(path.join(dir, 'cache', 'objects')));
  edge.kill('SIGTERM');
  await edge.exited;

  // The variable holds a bad value, but the flag is what counts.
  const flagWins = await spawnEdge(['edge', '--listen', '127.0.0.1:0'], {
    env: {
      IMGEDGE_ORIGIN: origin.url,
      IMGEDGE_LISTEN: 'not-a-listen-address',
      IMGEDGE_ADMIN_LISTEN: '127.0.0.1:0',
      IMGEDGE_CACHE_DIR: path.join(dir, 'cache2'),
    },
  });
  running.add(flagWins);
  assert.equal((await get(flagWins.url, '/env.jpg')).status, 200);
  flagWins.kill('SIGTERM');
  await flagWins.exited;
});

test('two edges cannot share one cache dir', async () => {
  const cacheDir = path.join(tempDir('lock'), 'cache');
  const first = await edgeOn(cacheDir);
  const second = await runToExit(['edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--cache-dir', cacheDir]);
  assert.equal(second.code, 1);
  assert.match(second.output, /in use by process/);
  first.kill('SIGTERM');
  await first.exited;
});
