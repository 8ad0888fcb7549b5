// The container check's runs, against an image built from the Dockerfile:
// node .ci/container-check.mjs IMAGE. The edge container pulls through an
// origin served from this process on 127.0.0.1 (the container shares the
// host's network), with a read-only root and its cache in the image's
// volume; then SIGTERM must drain a response in flight and exit 0.
// Podman's settings come from CONTAINERS_CONF (.ci/containers.conf).
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import sharp from 'sharp';

const image = process.argv[2];
if (!image) throw new Error('usage: node .ci/container-check.mjs IMAGE');
const name = `imgedge-check-${process.pid}`;
const step = (what) => console.log(`container check: ${what}`);

function podman(args, { check = true } = {}) {
  const result = spawnSync('podman', args, { encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  if (check && result.status !== 0) throw new Error(`podman ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return result;
}

async function freePort() {
  const server = http.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

/** GET with a connection of its own (no keep-alive to hold up the drain). */
function get(url) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: 30_000 }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks), complete: response.complete }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${url}: timed out`)));
    request.on('error', reject);
  });
}

async function until(what, probe, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`container check: ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The origin: a real PNG, and a JPEG whose second half waits for release.
const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a7' } }).png().toBuffer();
const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#a73' } }).jpeg({ quality: 95 }).toBuffer();
const fetches = new Map();
let releaseSlow;
const slowReleased = new Promise((resolve) => (releaseSlow = resolve));
const origin = http.createServer((request, response) => {
  fetches.set(request.url, (fetches.get(request.url) ?? 0) + 1);
  if (request.url === '/photos/small.png') {
    response.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length, 'cache-control': 'max-age=60' });
    response.end(png);
  } else if (request.url === '/photos/slow.jpg') {
    response.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, 'cache-control': 'max-age=60' });
    response.write(jpeg.subarray(0, jpeg.length >> 1));
    void slowReleased.then(() => response.end(jpeg.subarray(jpeg.length >> 1)));
  } else {
    response.writeHead(404).end();
  }
});
origin.listen(0, '127.0.0.1');
await once(origin, 'listening');
const originUrl = `http://127.0.0.1:${origin.address().port}`;

try {
  const inspected = JSON.parse(podman(['image', 'inspect', image]).stdout)[0];
  const config = inspected.Config;
  assert.deepEqual(config.Entrypoint, ['imgedge']);
  assert.match(config.User, /^[1-9]\d*:\d+$/, 'a numeric non-root user');
  assert.deepEqual(Object.keys(config.Volumes ?? {}).sort(), ['/var/cache/imgedge', '/var/lib/imgedge']);
  assert.ok(inspected.Healthcheck?.Test?.length, 'a HEALTHCHECK (the image is built in docker format)');
  const nodeVersion = podman(['run', '--rm', '--entrypoint', 'node', image, '--version']).stdout.trim();
  assert.match(nodeVersion, /^v24\./);
  step(`image: entrypoint imgedge, user ${config.User}, volumes, health check, node ${nodeVersion}`);

  const badOption = podman(['run', '--rm', '--network', 'host', '--read-only', image, 'edge'], { check: false });
  assert.equal(badOption.status, 2, 'edge without --origin exits 2');
  assert.match(badOption.stderr, /--origin/);

  const [port, adminPort] = [await freePort(), await freePort()];
  const drainMs = 10_000;
  podman([
    'run', '--detach', '--name', name, '--network', 'host', '--read-only',
    // The health check is run below by hand: podman's own timer needs systemd.
    '--health-interval', 'disable',
    image, 'edge', '--origin', originUrl,
    '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`,
    '--drain-timeout-ms', String(drainMs), '--log-level', 'warn',
  ]);
  const edge = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const started = Date.now();
  await until('/readyz answers 200', async () => (await get(`${admin}/readyz`)).status === 200);
  assert.equal((await get(`${admin}/healthz`)).status, 200);
  step(`edge ready in ${Date.now() - started} ms; /healthz 200`);
  assert.equal(podman(['healthcheck', 'run', name], { check: false }).status, 0, 'the image\'s HEALTHCHECK passes');
  assert.equal(podman(['exec', name, 'node', '-e', 'process.stdout.write(String(process.getuid()))']).stdout, config.User.split(':')[0]);
  const write = podman(['exec', name, 'node', '-e', 'require("fs").writeFileSync("/app/written", "")'], { check: false });
  assert.notEqual(write.status, 0, 'the root filesystem is read-only');
  assert.match(write.stderr, /EROFS/);
  step('HEALTHCHECK healthy; runs as the image user; root filesystem read-only');

  const miss = await get(`${edge}/photos/small.png`);
  assert.equal(miss.status, 200);
  assert.ok(miss.body.equals(png), 'the origin\'s bytes');
  assert.match(miss.headers['cache-status'], /imgedge; fwd=miss; stored/);
  const hit = await get(`${edge}/photos/small.png`);
  assert.ok(hit.body.equals(png));
  assert.match(hit.headers['cache-status'], /imgedge; hit/);
  assert.equal(fetches.get('/photos/small.png'), 1, 'one origin fetch');
  const stored = podman(['exec', name, 'node', '-e', 'process.stdout.write(String(require("fs").readdirSync("/var/cache/imgedge/objects", { recursive: true }).length))']);
  assert.ok(Number(stored.stdout) > 256, 'the object is in the cache volume');
  step(`pull-through: miss then hit, ${png.length} bytes, one origin fetch, stored in /var/cache/imgedge`);

  // A response in flight when SIGTERM comes must finish; then exit 0.
  const slow = get(`${edge}/photos/slow.jpg`);
  await until('the slow fetch reaches the origin', async () => fetches.get('/photos/slow.jpg') === 1, 10_000);
  const signalled = Date.now();
  podman(['kill', '--signal', 'TERM', name]);
  await until('/readyz turns 503 while draining', async () => (await get(`${admin}/readyz`)).status === 503, 5_000);
  releaseSlow();
  const drained = await slow;
  assert.equal(drained.status, 200);
  assert.ok(drained.complete && drained.body.equals(jpeg), 'the response in flight finished whole');
  const exit = podman(['wait', name]).stdout.trim();
  const stopMs = Date.now() - signalled;
  assert.equal(exit, '0', 'exit 0 after SIGTERM');
  assert.ok(stopMs < drainMs, `stopped within the drain time (${stopMs} ms)`);
  step(`SIGTERM: /readyz 503, the response in flight finished (${jpeg.length} bytes), exit 0 after ${stopMs} ms`);
} catch (error) {
  const logs = podman(['logs', '--tail', '40', name], { check: false });
  if (logs.status === 0) console.error(`container check: the edge's last log lines:\n${logs.stdout}${logs.stderr}`);
  throw error;
} finally {
  podman(['rm', '--force', '--volumes', name], { check: false });
  origin.close();
}
