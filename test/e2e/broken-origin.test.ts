// An origin that breaks right after its head: the client gets an error, and
// the error must not look like the object. Found by the soak (npm run soak:
// "error answers with the object's headers").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes } from '../helpers/http.js';
import { startTestEdge, tempDir, type TestEdge } from '../helpers/edge.js';

let origin: TestOrigin;
let edge: TestEdge;
const dir = tempDir('broken-origin');

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url, { cacheDir: path.join(dir, 'cache') });
});

after(async () => {
  await edge.close();
  await origin.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// The fill's head is staged on the response (fastify sets stream headers
// before the first byte); when the body fails before that byte, the error
// handler sends its 502 with them. A browser or shared cache that keeps a 502
// with explicit freshness (RFC 9111 §3 lets it) would show the error text as
// the image for an hour, and revalidating it with that ETag gets a 304 from
// the edge, which holds the real image under it.
test('a body broken before its first byte: the 502 carries none of the object\'s headers', async () => {
  origin.set('/broken-early.jpg', { body: bytes(100_000, 'early'), breakAfter: 0 });
  for (const headers of [{}, { range: 'bytes=5000-5100' }] as Record<string, string>[]) {
    const res = await get(edge.url, '/broken-early.jpg', { headers });
    assert.equal(res.status, 502);
    assert.equal(res.headers.etag, undefined, 'no ETag on the error');
    assert.equal(res.headers['last-modified'], undefined, 'no Last-Modified on the error');
    assert.equal(res.headers['content-range'], undefined, 'no Content-Range on the error');
    assert.doesNotMatch(String(res.headers['cache-control'] ?? ''), /public|max-age/, 'the error is not made cacheable');
    assert.doesNotMatch(String(res.headers['cache-status']), /stored/, 'Cache-Status does not claim it was stored');
  }
});
