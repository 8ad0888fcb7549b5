// Image variants end to end: real images drawn by sharp, a real origin and
// edge, outputs decoded to check what a browser would get.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import sharp from 'sharp';
import { TestOrigin, Gate } from '../helpers/origin.js';
import { runToExit, startTestEdge, type TestEdge } from '../helpers/edge.js';
import { get, request } from '../helpers/http.js';
import { animatedGif, bombPng, photo, rotatedJpeg } from '../helpers/images.js';
import { signature } from '../../src/transform/sign.js';

let origin: TestOrigin;
const edges: TestEdge[] = [];
let jpeg: Buffer;

before(async () => {
  origin = await TestOrigin.start();
  jpeg = await photo(800, 600);
});
after(async () => {
  for (const edge of edges) await edge.close();
  await origin.stop();
});

async function edgeWith(args: string[] = [], now?: () => number): Promise<TestEdge> {
  const edge = await startTestEdge(origin.url, { args, now });
  edges.push(edge);
  return edge;
}

async function metric(edge: TestEdge, line: RegExp): Promise<number> {
  const text = (await get(edge.adminUrl, '/metrics')).body.toString();
  const found = text.split('\n').find((l) => line.test(l));
  return found ? Number(found.split(' ').pop()) : 0;
}

test('w and format make a resized WebP; either order is one stored variant, a hit the second time', { timeout: 30_000 }, async () => {
  origin.set('/a/photo.jpg', { body: jpeg });
  const edge = await edgeWith();
  const first = await get(edge.url, '/a/photo.jpg?w=200&format=webp');
  assert.equal(first.status, 200);
  assert.equal(first.headers['content-type'], 'image/webp');
  const meta = await sharp(first.body).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 200, 150]);
  assert.match(String(first.headers.etag), /^"[\w-]+"$/);
  const second = await get(edge.url, '/a/photo.jpg?format=webp&w=200');
  assert.equal(second.status, 200);
  assert.match(String(second.headers['cache-status']), /; hit/);
  assert.deepEqual(second.body, first.body);
  // The source was fetched once, without the transform's parameters.
  assert.deepEqual(origin.requests.filter((r) => r.url.startsWith('/a/photo.jpg')).map((r) => r.url), ['/a/photo.jpg']);
  // The original is served as it is.
  const plain = await get(edge.url, '/a/photo.jpg');
  assert.deepEqual(plain.body, jpeg);
  assert.equal(await metric(edge, /^imgedge_transforms_total\{result="ok",format="webp"\}/), 1);
  // Origin fetches are the origin's: making the variant is not one.
  assert.equal(await metric(edge, /^imgedge_origin_fetches_total\{result="ok"\}/), 1);
  assert.equal(await metric(edge, /^imgedge_transform_seconds_count\{result="ok"\}/), 1);
  assert.equal(await metric(edge, /^imgedge_transform_queue_depth /), 0);
});

/** The raw head of one GET over a fresh connection: who wrote it shows in its spelling. */
async function rawHead(edge: TestEdge, target: string): Promise<string> {
  const socket = net.connect(Number(new URL(edge.url).port), '127.0.0.1');
  try {
    let text = '';
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve();
      });
      socket.on('error', reject);
      socket.write(`GET ${target} HTTP/1.1\r\nHost: edge\r\n\r\n`);
    });
    return text.slice(0, text.indexOf('\r\n\r\n'));
  } finally {
    socket.destroy();
  }
}

test('a warm variant is answered by the hit lane, as an original is, in any parameter order', { timeout: 30_000 }, async () => {
  origin.set('/lane/photo.jpg', { body: jpeg });
  const edge = await edgeWith();
  await get(edge.url, '/lane/photo.jpg?w=90&format=png');
  // The second read puts it in memory; from then on the lane answers it.
  await get(edge.url, '/lane/photo.jpg?format=png&w=90');
  for (const target of ['/lane/photo.jpg?w=90&format=png', '/lane/photo.jpg?format=png&w=90']) {
    const head = await rawHead(edge, target);
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\ncache-status: imgedge; hit/);
    // Written by the lane: Node's own server would have capitalised Date.
    assert.match(head, /\r\ndate: /, target);
  }
});

test('other query parameters stay the source\'s identity and reach the origin', { timeout: 30_000 }, async () => {
  origin.set('/b/photo.jpg', { body: jpeg });
  const edge = await edgeWith();
  const res = await get(edge.url, '/b/photo.jpg?v=2&w=100');
  assert.equal(res.status, 200);
  assert.equal((await sharp(res.body).metadata()).width, 100);
  assert.deepEqual(origin.requests.filter((r) => r.url.startsWith('/b/')).map((r) => r.url), ['/b/photo.jpg?v=2']);
  // The plain request for that source is the same object: no second fetch.
  assert.deepEqual((await get(edge.url, '/b/photo.jpg?v=2')).body, jpeg);
  assert.equal(origin.requests.filter((r) => r.url.startsWith('/b/')).length, 1);
});

test('a bad parameter is a 400 naming it, and nothing is fetched', { timeout: 30_000 }, async () => {
  const edge = await edgeWith();
  const before = origin.requests.length;
  for (const [query, name] of [['w=0', 'w'], ['w=9000', 'w'], ['fit=squash&w=10', 'fit'], ['format=bmp', 'format'], ['q=0', 'q'], ['w=1&w=2', 'w']] as const) {
    const res = await get(edge.url, `/c/photo.jpg?${query}`);
    assert.equal(res.status, 400, query);
    assert.match(res.body.toString(), new RegExp(`BAD_TRANSFORM: ${name}: allowed values are`), query);
  }
  assert.equal(origin.requests.length, before);
});

test('every source format in, every output format out, with h, fit and q', { timeout: 60_000 }, async () => {
  const edge = await edgeWith();
  for (const format of ['jpeg', 'png', 'webp', 'avif'] as const) {
    origin.set(`/d/src.${format}`, { body: await photo(400, 300, format) });
    for (const out of ['jpeg', 'png', 'webp', 'avif'] as const) {
      const res = await get(edge.url, `/d/src.${format}?w=100&h=100&fit=contain&q=70&format=${out}`);
      assert.equal(res.status, 200, `${format} → ${out}: ${res.body.toString().slice(0, 100)}`);
      const meta = await sharp(res.body).metadata();
      assert.equal(meta.format === 'heif' ? 'avif' : meta.format, out, `${format} → ${out}`);
      assert.deepEqual([meta.width, meta.height], [100, 100], `${format} → ${out}`);
    }
    // Without format, the source's own.
    const same = await sharp((await get(edge.url, `/d/src.${format}?w=40`)).body).metadata();
    assert.equal(same.format === 'heif' ? 'avif' : same.format, format);
    assert.deepEqual([same.width, same.height], [40, 30]);
  }
  // A still GIF is resized as a GIF; a quality for it would be ignored, so it is refused.
  origin.set('/d/still.gif', { body: await photo(80, 60, 'gif') });
  const gif = await get(edge.url, '/d/still.gif?w=40');
  assert.deepEqual(await sharp(gif.body).metadata().then((m) => [m.format, m.width]), ['gif', 40]);
  const gifQ = await get(edge.url, '/d/still.gif?w=40&q=50');
  assert.equal(gifQ.status, 400);
  assert.match(gifQ.body.toString(), /q: allowed values are none for a GIF/);
  assert.equal((await get(edge.url, '/d/still.gif?w=40&q=50&format=webp')).status, 200);
  // Never enlarged: a width past the source's gives the source's size.
  assert.equal((await sharp((await get(edge.url, '/d/src.jpeg?w=4000')).body).metadata()).width, 400);
});

test('EXIF orientation is applied and the metadata stripped', { timeout: 30_000 }, async () => {
  origin.set('/e/rotated.jpg', { body: await rotatedJpeg(300, 200) });
  const edge = await edgeWith();
  const res = await get(edge.url, '/e/rotated.jpg?w=100');
  assert.equal(res.status, 200);
  const meta = await sharp(res.body).metadata();
  assert.deepEqual([meta.width, meta.height], [100, 150]);
  assert.equal(meta.orientation, undefined);
  assert.equal(meta.exif, undefined);
  assert.equal(meta.icc, undefined);
  assert.equal(meta.space, 'srgb');
});

test('SVG, a non-image and an animated GIF are refused (415), a bomb and an oversized source 422; nothing stored, the edge serves on', { timeout: 30_000 }, async () => {
  origin.set('/f/logo.svg', { body: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><image href="http://127.0.0.1:1/x"/></svg>', headers: { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=60' } });
  origin.set('/f/notes.txt', { body: 'just text, not pixels', headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=60' } });
  origin.set('/f/anim.gif', { body: await animatedGif(40, 30) });
  origin.set('/f/bomb.png', { body: bombPng(60_000, 60_000) });
  origin.set('/f/big.jpg', { body: await photo(1000, 1000) });
  const edge = await edgeWith(['--max-source-bytes', '20KiB']);
  const table: [path: string, status: number, code: string][] = [
    ['/f/logo.svg?w=10', 415, 'UNSUPPORTED_IMAGE'],
    ['/f/notes.txt?w=10', 415, 'UNSUPPORTED_IMAGE'],
    ['/f/anim.gif?w=10', 415, 'UNSUPPORTED_IMAGE'],
    ['/f/bomb.png?w=10', 422, 'IMAGE_TOO_LARGE'],
    ['/f/big.jpg?w=10', 422, 'IMAGE_TOO_LARGE'],
  ];
  for (const [path, status, code] of table) {
    for (let i = 0; i < 2; i++) {
      const res = await get(edge.url, path);
      assert.equal(res.status, status, path);
      assert.match(res.body.toString(), new RegExp(code), path);
      // Not stored: the second request is refused afresh, never a hit.
      assert.doesNotMatch(String(res.headers['cache-status']), /hit/, path);
    }
  }
  const counted = async (result: string) => {
    const text = (await get(edge.adminUrl, '/metrics')).body.toString();
    return text.split('\n').filter((l) => l.startsWith(`imgedge_transforms_total{result="${result}"`)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  assert.equal(await counted('unsupported'), 6);
  assert.equal(await counted('too_large'), 4);
  assert.equal(await counted('ok'), 0);
  // The SVG itself passes through as an original would.
  assert.equal((await get(edge.url, '/f/logo.svg')).status, 200);
  origin.set('/f/ok.jpg', { body: await photo(100, 50) });
  assert.equal((await get(edge.url, '/f/ok.jpg?w=10')).status, 200);
});

test('a transform over its time limit is refused (422), not stored, and the edge serves on', { timeout: 30_000 }, async () => {
  origin.set('/g/large.jpg', { body: await photo(2000, 1500) });
  const edge = await edgeWith(['--transform-timeout-ms', '1']);
  const res = await get(edge.url, '/g/large.jpg?w=400&format=avif');
  assert.equal(res.status, 422);
  assert.match(res.body.toString(), /TRANSFORM_TIMEOUT/);
  assert.equal((await get(edge.url, '/g/large.jpg')).status, 200);
  assert.equal(await metric(edge, /^imgedge_transforms_total\{result="timeout",format="avif"\}/), 1);
});

test('more transforms than cores and queue: 503 with Retry-After at once, the rest made, the edge serving on', { timeout: 60_000 }, async () => {
  const gate = new Gate();
  origin.set('/q/large.jpg', { body: await photo(2000, 1500), gate, gateAfter: 100 });
  const edge = await edgeWith(['--transform-queue', '0']);
  // Every variant waits on the one source fetch, so all reach the cores together when it ends.
  const asks = Array.from({ length: os.availableParallelism() + 3 }, (_, i) => get(edge.url, `/q/large.jpg?w=${600 + i}&format=avif`));
  while (origin.count('/q/large.jpg') === 0) await new Promise((resolve) => setImmediate(resolve));
  gate.open();
  const answers = await Promise.all(asks);
  const busy = answers.filter((res) => res.status === 503);
  assert.ok(busy.length >= 1, `statuses ${answers.map((res) => res.status).join(',')}`);
  for (const res of busy) {
    assert.equal(res.headers['retry-after'], '1');
    assert.match(res.body.toString(), /TRANSFORM_BUSY/);
  }
  assert.ok(answers.every((res) => res.status === 200 || res.status === 503));
  assert.ok(answers.some((res) => res.status === 200));
  assert.equal(await metric(edge, /^imgedge_transforms_total\{result="busy",format="avif"\}/), busy.length);
  // Refused, not stored: asked again with the cores free, it is made.
  const again = busy.length ? await get(edge.url, `/q/large.jpg?w=${600 + answers.indexOf(busy[0]!)}&format=avif`) : null;
  if (again) assert.equal(again.status, 200);
});

test('50 concurrent requests of one variant, and one for its source: one origin fetch, one transform', { timeout: 60_000 }, async () => {
  const gate = new Gate();
  origin.set('/h/photo.jpg', { body: jpeg, gate, gateAfter: 100 });
  const edge = await edgeWith();
  const all = Array.from({ length: 50 }, (_, i) => get(edge.url, i % 2 ? '/h/photo.jpg?w=120&format=webp' : '/h/photo.jpg?format=webp&w=120'));
  const plain = get(edge.url, '/h/photo.jpg');
  while (origin.count('/h/photo.jpg') === 0) await new Promise((resolve) => setImmediate(resolve));
  gate.open();
  const answers = await Promise.all(all);
  for (const res of answers) {
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, answers[0]!.body);
  }
  assert.deepEqual((await plain).body, jpeg);
  assert.equal(origin.count('/h/photo.jpg'), 1);
  assert.equal(await metric(edge, /^imgedge_transforms_total\{result="ok",format="webp"\}/), 1);
});

test('purging a path drops its variants with it', { timeout: 30_000 }, async () => {
  origin.set('/i/photo.jpg', { body: jpeg });
  const edge = await edgeWith(['--admin-token', 't0ken']);
  assert.equal((await get(edge.url, '/i/photo.jpg?w=50')).status, 200);
  assert.match(String((await get(edge.url, '/i/photo.jpg?w=50')).headers['cache-status']), /hit/);
  const purged = await request(edge.adminUrl, '/purge', {
    method: 'POST', body: JSON.stringify({ paths: ['/i/photo.jpg'] }), headers: { 'content-type': 'application/json', authorization: 'Bearer t0ken' },
  });
  assert.equal(purged.status, 200);
  assert.deepEqual(JSON.parse(purged.body.toString()), { purged: 2 });
  const again = await get(edge.url, '/i/photo.jpg?w=50');
  assert.doesNotMatch(String(again.headers['cache-status']), /hit/);
  assert.equal(origin.count('/i/photo.jpg'), 2);
});

test('a variant is revalidated with its source: unchanged, no new transform; changed, made again', { timeout: 30_000 }, async () => {
  let now = Date.now();
  let body = jpeg;
  origin.set('/j/photo.jpg', () => ({ body, extraHeaders: {} , headers: {
    'content-type': 'image/jpeg', etag: `"${body.length}"`, 'cache-control': 'public, max-age=60',
  } }));
  const edge = await edgeWith([], () => now);
  const first = await get(edge.url, '/j/photo.jpg?w=80');
  assert.match(String(first.headers['cache-control']), /max-age=(60|59)/);
  now += 120_000;
  const revalidated = await get(edge.url, '/j/photo.jpg?w=80');
  assert.equal(revalidated.status, 200);
  assert.deepEqual(revalidated.body, first.body);
  assert.equal(revalidated.headers.etag, first.headers.etag);
  assert.equal(origin.count('/j/photo.jpg'), 2);
  assert.equal(await metric(edge, /^imgedge_transforms_total\{result="ok",format="jpeg"\}/), 1);
  body = await photo(400, 400);
  now += 120_000;
  const changed = await get(edge.url, '/j/photo.jpg?w=80');
  assert.notEqual(changed.headers.etag, first.headers.etag);
  assert.equal((await sharp(changed.body).metadata()).height, 80);
});

test('format=auto: AVIF, WebP or the source\'s format by Accept, with Vary: Accept, stored once per choice', { timeout: 30_000 }, async () => {
  origin.set('/k/photo.jpg', { body: jpeg });
  const edge = await edgeWith();
  const asks: [accept: string | undefined, format: string][] = [
    ['image/avif,image/webp,image/apng,*/*;q=0.8', 'heif'],
    ['image/webp,*/*', 'webp'],
    ['*/*', 'jpeg'],
    [undefined, 'jpeg'],
    ['image/webp,image/png,*/*;q=0.5', 'webp'],
    ['text/html, image/avif', 'heif'],
  ];
  for (const [accept, format] of asks) {
    const res = await get(edge.url, '/k/photo.jpg?w=64&format=auto', { headers: accept ? { accept } : {} });
    assert.equal(res.status, 200, String(accept));
    assert.equal(res.headers.vary, 'Accept');
    assert.equal((await sharp(res.body).metadata()).format, format, String(accept));
  }
  // Six Accept values, three choices: three transforms.
  const made = await metric(edge, /^imgedge_transforms_total\{result="ok",format="avif"\}/) +
    await metric(edge, /^imgedge_transforms_total\{result="ok",format="webp"\}/) +
    await metric(edge, /^imgedge_transforms_total\{result="ok",format="jpeg"\}/);
  assert.equal(made, 3);
});

test('--signing-key: a transform needs a valid sig (403 otherwise); originals need none; imgedge sign agrees', { timeout: 30_000 }, async () => {
  origin.set('/photos/cat.jpg', { body: jpeg });
  const key = 'imgedge-test-key';
  const edge = await edgeWith(['--signing-key', key]);
  const sig = signature(key, '/photos/cat.jpg?format=webp&w=200');
  assert.equal(sig, 'g-XYhYEXoRPk-xT3XdT7kdl8fpfCFZgoeiFKBPHkt5k');
  const before = origin.requests.length;
  assert.equal((await get(edge.url, '/photos/cat.jpg?w=200&format=webp')).status, 403);
  assert.equal((await get(edge.url, `/photos/cat.jpg?w=200&format=webp&sig=${sig.slice(1)}A`)).status, 403);
  assert.equal((await get(edge.url, `/photos/cat.jpg?w=201&format=webp&sig=${sig}`)).status, 403);
  assert.equal(origin.requests.length, before);
  const ok = await get(edge.url, `/photos/cat.jpg?w=200&format=webp&sig=${sig}`);
  assert.equal(ok.status, 200);
  // Warm, it is a hit, and still refused without its sig.
  assert.match(String((await get(edge.url, `/photos/cat.jpg?format=webp&sig=${sig}&w=200`)).headers['cache-status']), /hit/);
  assert.equal((await get(edge.url, '/photos/cat.jpg?format=webp&w=200')).status, 403);
  assert.equal((await get(edge.url, '/photos/cat.jpg')).status, 200);
  const signed = await runToExit(['sign', '--signing-key', key, 'https://img.example/photos/cat.jpg?w=200&format=webp']);
  assert.equal(signed.code, 0);
  assert.equal(signed.output.trim(), `https://img.example/photos/cat.jpg?w=200&format=webp&sig=${sig}`);
  const usage = await runToExit(['sign', 'https://img.example/a.jpg?w=1']);
  assert.equal(usage.code, 2);
  assert.match(usage.output, /--signing-key/);
  const help = await runToExit(['sign', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.output, /usage: imgedge sign --signing-key KEY URL[^]*--signing-key KEY/);
});

test('--allowed-widths refuses other widths before any fetch', { timeout: 30_000 }, async () => {
  origin.set('/l/photo.jpg', { body: jpeg });
  const edge = await edgeWith(['--allowed-widths', '160,320']);
  const refused = await get(edge.url, '/l/photo.jpg?w=300');
  assert.equal(refused.status, 400);
  assert.match(refused.body.toString(), /w: allowed values are 160, 320/);
  assert.equal(origin.count('/l/photo.jpg'), 0);
  assert.equal((await get(edge.url, '/l/photo.jpg?w=320')).status, 200);
});
