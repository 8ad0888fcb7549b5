import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { startTestImgedgeOrigin, samplePng, sampleJpeg, TOKEN } from '../helpers/imgedge-origin.js';
import { parseChangesPage } from '../../src/changelog/wire.js';

async function changes(url: string, query: string) {
  const res = await fetch(`${url}/.imgedge/changes?${query}`);
  assert.equal(res.status, 200);
  return parseChangesPage(await res.json());
}

function pendingFiles(root: string): string[] {
  return fs.readdirSync(path.join(root, '.imgedge', 'tmp'));
}

test('PUT, GET, overwrite and DELETE, each in the change log with the new ETag', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const first = await samplePng(1);
  const created = await origin.put('/photos/a.png', first);
  assert.equal(created.status, 201);
  const etag = created.headers.get('etag')!;
  assert.match(etag, /^"[A-Za-z0-9_-]{32}"$/);

  const got = await fetch(`${origin.url}/photos/a.png`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('etag'), etag);
  assert.equal(got.headers.get('content-type'), 'image/png');
  assert.equal(got.headers.get('cache-control'), 'public, max-age=3600');
  assert.ok(got.headers.get('last-modified'));
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), first);

  assert.equal((await fetch(`${origin.url}/photos/a.png`, { headers: { 'if-none-match': etag } })).status, 304);
  const range = await fetch(`${origin.url}/photos/a.png`, { headers: { range: 'bytes=0-9' } });
  assert.equal(range.status, 206);
  assert.equal(range.headers.get('content-range'), `bytes 0-9/${first.length}`);
  assert.deepEqual(Buffer.from(await range.arrayBuffer()), first.subarray(0, 10));
  assert.equal((await fetch(`${origin.url}/photos/a.png`, { headers: { range: `bytes=${first.length + 5}-` } })).status, 416);
  assert.equal((await fetch(`${origin.url}/photos/a.png`, { headers: { range: 'bytes=0-9', 'if-range': etag } })).status, 206);
  assert.equal((await fetch(`${origin.url}/photos/a.png`, { headers: { range: 'bytes=0-9', 'if-range': '"another"' } })).status, 200);

  const second = await sampleJpeg(2);
  const replaced = await origin.put('/photos/a.png', second);
  assert.equal(replaced.status, 204);
  const etag2 = replaced.headers.get('etag')!;
  assert.notEqual(etag2, etag);
  const now = await fetch(`${origin.url}/photos/a.png`);
  assert.equal(now.headers.get('content-type'), 'image/jpeg', 'typed by its bytes, not its name');
  assert.deepEqual(Buffer.from(await now.arrayBuffer()), second);

  assert.equal((await origin.del('/photos/a.png')).status, 204);
  assert.equal((await fetch(`${origin.url}/photos/a.png`)).status, 404);
  assert.equal((await origin.del('/photos/a.png')).status, 404);

  const page = await changes(origin.url, 'from=1');
  assert.equal(page.first, 1);
  assert.equal(page.last, 3);
  assert.deepEqual(page.entries.map((e) => [e.seq, e.op, e.path, e.etag]), [
    [1, 'put', '/photos/a.png', etag],
    [2, 'put', '/photos/a.png', etag2],
    [3, 'delete', '/photos/a.png', undefined],
  ]);
  assert.ok(page.entries.every((e) => Math.abs(e.time - Date.now()) < 60_000));
  assert.deepEqual(pendingFiles(origin.root), []);
});

test('the change log long-polls: caught up waits for the next entry, behind or ahead answers at once', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  await origin.put('/a.png', await samplePng(1));
  const ahead = await changes(origin.url, 'from=9&wait=30');
  assert.deepEqual(ahead.entries, []);
  assert.equal(ahead.last, 1);
  const polling = changes(origin.url, 'from=2&wait=30');
  await new Promise((resolve) => setTimeout(resolve, 50));
  await origin.put('/b.png', await samplePng(2));
  const page = await polling;
  assert.deepEqual(page.entries.map((e) => e.path), ['/b.png']);
  const idle = await changes(origin.url, 'from=3&wait=0');
  assert.deepEqual(idle.entries, []);
  assert.equal((await fetch(`${origin.url}/.imgedge/changes?from=x`)).status, 400);
  assert.equal((await fetch(`${origin.url}/.imgedge/changes?from=1&since=2`)).status, 400);
  assert.equal((await fetch(`${origin.url}/.imgedge/id`)).status, 400);
});

test('bad uploads are refused and leave the store and the log as they were', async (t) => {
  const origin = await startTestImgedgeOrigin({ args: ['--max-upload-bytes', '20KiB'] });
  t.after(() => origin.close());
  const png = await samplePng(3);
  assert.equal((await fetch(`${origin.url}/x.png`, { method: 'PUT', body: png })).status, 401);
  assert.equal((await origin.put('/x.png', png, 'wrong')).status, 401);
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>');
  assert.equal((await origin.put('/x.svg', svg)).status, 415);
  assert.equal((await origin.put('/x.png', Buffer.from('just some text, not an image at all, long enough to sniff........'))).status, 415);
  assert.equal((await origin.put('/x.png', Buffer.alloc(0))).status, 415);
  const big = await sharp({ create: { width: 400, height: 400, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
  assert.ok(big.length > 20 * 1024);
  assert.equal((await origin.put('/big.png', big)).status, 413);
  // Without a declared length, the limit is found while streaming.
  const chunked = await fetch(`${origin.url}/big.png`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: new ReadableStream({ start(c) { c.enqueue(big); c.close(); } }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  for (const target of ['/a%2fb.png', '/a%00.png', '/.imgedge/changes', '/.imgedge/tmp/x.png', '/a.png?v=1']) {
    assert.equal((await origin.put(target, png)).status, 400, target);
  }
  assert.equal((await fetch(`${origin.url}/x.png`, { method: 'POST', body: png })).status, 405);
  // A raw request: fetch would resolve the dots itself.
  for (const target of ['/../../etc/x.png', '/a/%2e%2e/%2e%2e/x.png', '/a/..%2f..%2fx.png']) {
    const raw = await rawRequest(origin.url, `PUT ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${png.length}\r\nConnection: close\r\n\r\n`, png);
    assert.match(raw, /^HTTP\/1\.1 400/, target);
  }
  assert.deepEqual((await changes(origin.url, 'from=1')).entries, []);
  assert.deepEqual(fs.readdirSync(origin.root).filter((n) => n !== '.imgedge'), []);
  assert.deepEqual(pendingFiles(origin.root), []);
});

test('an origin without --upload-token refuses writes with 403', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const { startOrigin } = await import('../../src/roles/origin/server.js');
  const { parseOriginConfig } = await import('../../src/config.js');
  const readOnly = await startOrigin(parseOriginConfig(['--listen', '127.0.0.1:0', '--root', path.join(origin.root, '..', 'ro'), '--log-level', 'silent'], {}));
  t.after(() => readOnly.close());
  assert.equal((await fetch(`${readOnly.url}/a.png`, { method: 'PUT', body: await samplePng(1), headers: { authorization: 'Bearer x' } })).status, 403);
});

function rawRequest(url: string, head: string, body: Buffer = Buffer.alloc(0)): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(Buffer.concat([Buffer.from(head), body])));
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    setTimeout(() => socket.destroy(new Error('raw request timed out')), 10_000).unref();
  });
}

test('a client that goes away mid-upload leaves nothing behind', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const png = await samplePng(5, 300, 300);
  const { port } = new URL(origin.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`PUT /gone.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${png.length + 1000}\r\n\r\n`);
  socket.write(png.subarray(0, 200));
  // Wait until the origin has the pending file open, then hang up.
  for (let i = 0; i < 200 && pendingFiles(origin.root).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(pendingFiles(origin.root).length, 1);
  socket.destroy();
  for (let i = 0; i < 200 && pendingFiles(origin.root).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(pendingFiles(origin.root), []);
  assert.equal(fs.existsSync(path.join(origin.root, 'gone.png')), false);
  assert.deepEqual((await changes(origin.url, 'from=1')).entries, []);
});

test('concurrent PUTs to one path end with one whole file, the one the log names last', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => samplePng(i + 10, 200 + i, 200)));
  const answers = await Promise.all(bodies.map((b) => origin.put('/same.png', b)));
  assert.deepEqual(answers.map((a) => a.status).sort(), [201, 204, 204, 204, 204, 204, 204, 204]);
  const stored = fs.readFileSync(path.join(origin.root, 'same.png'));
  assert.ok(bodies.some((b) => b.equals(stored)), 'the file is one of the uploads, whole');
  const page = await changes(origin.url, 'from=1');
  assert.equal(page.entries.length, 8);
  const served = await fetch(`${origin.url}/same.png`);
  assert.equal(page.entries.at(-1)!.etag, served.headers.get('etag'));
  assert.deepEqual(pendingFiles(origin.root), []);
});

test('a second origin on the same root refuses to start', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const { runToExit } = await import('../helpers/edge.js');
  const second = await runToExit(['origin', '--root', origin.root, '--listen', '127.0.0.1:0']);
  assert.equal(second.code, 1);
  assert.match(second.output, /in use by process/);
});
