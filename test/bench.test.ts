// The benchmark's own instruments: the synthetic origin and the timed client.
// A ratio is only as good as the bytes and counts behind it, so these are
// checked like the product (no times asserted: the benchmark reports those).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import fc from 'fast-check';
import { createOriginServer, etagOf, objectBody, objectDigest, objectPath, parseObjectPath } from '../bench/origin.js';
import { getText, percentile, timedGet } from '../bench/client.js';

let server: http.Server;
let base: string;

before(async () => {
  server = createOriginServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('bench origin: property: an object path names its size, delays and name, and parses back', () => {
  fc.assert(
    fc.property(
      fc.record({
        name: fc.string({ minLength: 1, maxLength: 30 }),
        size: fc.integer({ min: 0, max: 999_999_999_999 }),
        headMs: fc.nat({ max: 10_000 }),
        bodyMs: fc.nat({ max: 10_000 }),
      }),
      (spec) => assert.deepEqual(parseObjectPath(objectPath(spec)), { ...spec }),
    ),
  );
  assert.equal(parseObjectPath('/obj/x1/name'), null);
  assert.equal(parseObjectPath('/other/s10/name'), null);
});

test('bench origin: the body it streams is objectBody, byte for byte, and two names never share bytes', async () => {
  // Not a whole number of the origin's chunks, so the last one is short.
  const size = 3 * 64 * 1024 + 1234;
  const path = objectPath({ name: 'streamed', size, bodyMs: 50 });
  const expect = objectBody('streamed', size);
  const got = await timedGet(base + path, { expect, hash: true });
  assert.equal(got.status, 200);
  assert.equal(got.bytes, size);
  assert.equal(got.matches, true);
  assert.equal(got.sha256, objectDigest('streamed', size));
  assert.equal(got.headers.etag, etagOf({ name: 'streamed', size }));
  assert.notDeepEqual(objectBody('other', size), expect);

  const wrong = await timedGet(base + path, { expect: objectBody('other', size) });
  assert.equal(wrong.matches, false, 'the client notices bytes that are not the expected ones');
  const short = await timedGet(base + path, { expect: objectBody('streamed', size + 1) });
  assert.equal(short.matches, false, 'and a body of the wrong length');
});

test('bench origin: counts the fetches of each path; 304 for its ETag; HEAD has no body; anything else is 404', async () => {
  const path = objectPath({ name: 'counted', size: 1000 });
  const count = async () => JSON.parse((await getText(`${base}/__count?path=${encodeURIComponent(path)}`)).body).count as number;
  assert.equal(await count(), 0);
  await timedGet(base + path);
  await timedGet(base + path);
  assert.equal(await count(), 2);

  const ask = (method: string, headers: http.OutgoingHttpHeaders = {}) =>
    new Promise<{ status: number; length: string | undefined; bytes: number }>((resolve, reject) => {
      const req = http.request(base + path, { method, headers, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], bytes }));
      });
      req.once('error', reject);
      req.end();
    });
  assert.deepEqual(await ask('GET', { 'if-none-match': etagOf({ name: 'counted', size: 1000 }) }), { status: 304, length: undefined, bytes: 0 });
  assert.deepEqual(await ask('HEAD'), { status: 200, length: '1000', bytes: 0 });
  assert.equal(await count(), 4);
  assert.equal((await getText(`${base}/nothing-here`)).status, 404);
});

test('percentile: nearest rank, ignoring what was not measured', () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile(values, 100), 100);
  assert.equal(percentile([5, Number.NaN, 1], 50), 1);
  assert.ok(Number.isNaN(percentile([], 50)));
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1 }), fc.integer({ min: 1, max: 100 }), (xs, p) => {
      const got = percentile(xs, p);
      // At least p% of the values are at or below it, and it is one of them.
      assert.ok(xs.includes(got));
      assert.ok(xs.filter((x) => x <= got).length >= (p / 100) * xs.length);
    }),
  );
});
