// Answers passed through unstored, asked for as HEAD, as GET, and by clients
// that go away before the body: the origin body the edge abandons or destroys
// must never take the process down. Each kind is asked many times against a
// real edge child process, which must still be serving at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, request, bytes } from '../helpers/http.js';
import { spawnEdge, tempDir, type EdgeProcess } from '../helpers/edge.js';

let origin: TestOrigin;
let edge: EdgeProcess;
let dir: string;
const body = bytes(200_000, 'pass');

/** Every way an answer is passed through rather than stored and shared. */
const KINDS: Record<string, { path: string; headers?: Record<string, string> }> = {
  'no-store 200': { path: '/no-store.jpg' },
  'no-store 404': { path: '/missing-no-store.jpg' },
  'private': { path: '/private.jpg' },
  'set-cookie': { path: '/cookie.jpg' },
  'larger than --max-object-bytes': { path: '/too-large.jpg' },
  'chunked, no-store': { path: '/chunked-no-store.jpg' },
  'an Authorization request': { path: '/authorised.jpg', headers: { authorization: 'Bearer someone' } },
  'origin 503': { path: '/failing.jpg' },
  'origin 500, no-store': { path: '/failing-no-store.jpg' },
};

before(async () => {
  origin = await TestOrigin.start();
  const image = { 'content-type': 'image/jpeg' };
  origin.set('/no-store.jpg', { body, headers: { ...image, 'cache-control': 'no-store' } });
  origin.set('/missing-no-store.jpg', { status: 404, body: 'gone\n', headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' } });
  origin.set('/private.jpg', { body, headers: { ...image, 'cache-control': 'private, max-age=60' } });
  origin.set('/cookie.jpg', { body, headers: { ...image, 'cache-control': 'max-age=60', 'set-cookie': 'a=b' } });
  origin.set('/too-large.jpg', { body, headers: { ...image, 'cache-control': 'max-age=60' } });
  origin.set('/chunked-no-store.jpg', { body, chunked: true, headers: { ...image, 'cache-control': 'no-store' } });
  origin.set('/authorised.jpg', { body, headers: { ...image, 'cache-control': 'max-age=60' } });
  origin.set('/failing.jpg', { status: 503, body: bytes(100_000, 'err'), headers: { 'content-type': 'text/html' } });
  origin.set('/failing-no-store.jpg', { status: 500, body: bytes(100_000, 'err'), headers: { 'content-type': 'text/html', 'cache-control': 'no-store' } });
  origin.set('/fine.jpg', { body: bytes(1000, 'fine') });
  dir = tempDir('pass-bodies');
  edge = await spawnEdge(['edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--cache-dir', path.join(dir, 'cache'), '--max-object-bytes', '100000', '--stale-if-error', '0', '--log-level', 'info']);
});

after(async () => {
  edge?.kill('SIGKILL');
  await edge?.exited;
  await origin?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function stillServing(label: string): Promise<void> {
  assert.equal(edge.child.exitCode, null, `${label}: the edge exited:\n${edge.output()}`);
  const res = await get(edge.url, '/fine.jpg');
  assert.equal(res.status, 200, label);
  assert.ok(res.complete, label);
}

for (const [kind, { path: target, headers }] of Object.entries(KINDS)) {
  test(`HEAD of a pass-through answer (${kind}) answers its head and the edge keeps serving`, async () => {
    for (let i = 0; i < 5; i++) {
      const head = await request(edge.url, target, { method: 'HEAD', headers });
      assert.ok(head.status >= 200, kind);
      assert.equal(head.body.length, 0, kind);
      const whole = await get(edge.url, target, { headers });
      assert.equal(whole.status, head.status, kind);
      assert.ok(whole.complete, kind);
    }
    // Allow a destroyed body's error, if one escaped, to reach the event loop.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stillServing(kind);
  });

  test(`a client that leaves mid-body (${kind}) costs nothing but its answer`, async () => {
    for (let i = 0; i < 5; i++) {
      const cut = await get(edge.url, target, { headers, abortAfterBytes: 1 });
      assert.equal(cut.complete, false, kind);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stillServing(kind);
  });
}
