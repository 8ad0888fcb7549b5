// An object replaced between the origin's HEAD and its GET of the bytes (a
// conditional or range request), on a store that ignores If-Match (s3rver does): the answer is one version whole,
// never the new object's first bytes under the old head. A real proxy in
// front of s3rver lands the overwrite at that exact moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseOriginConfig } from '../../src/config.js';
import { startOrigin } from '../../src/roles/origin/server.js';
import { get, sha256 } from '../helpers/http.js';
import { NO_REDIS, startRedis } from '../helpers/redis.js';
import { startS3 } from '../helpers/s3.js';
import { samplePng, TOKEN } from '../helpers/imgedge-origin.js';

test('an object replaced between the head and the body is read again, not served mixed', { skip: NO_REDIS, timeout: 30_000 }, async (t) => {
  const s3 = await startS3();
  t.after(() => s3.close());
  const redis = await startRedis();
  t.after(() => redis.close());
  const target = new URL(s3.endpoint);
  let replace: (() => Promise<void>) | null = null;
  const seen: string[] = [];
  const proxy = http.createServer((req, res) => {
    seen.push(req.method!);
    const forward = () => {
      const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    };
    const now = req.method === 'GET' && req.headers.range ? replace : null;
    if (!now) return forward();
    replace = null;
    void now().then(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const origin = await startOrigin(parseOriginConfig([
    '--listen', '127.0.0.1:0', '--root', `s3://${s3.bucket}/images`, '--s3-endpoint', `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    '--changelog', redis.url, '--upload-token', TOKEN, '--log-level', 'silent',
  ], { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }));
  t.after(() => origin.close());
  const put = (body: Buffer) => fetch(`${origin.url}/p/x.png`, { method: 'PUT', body, headers: { authorization: `Bearer ${TOKEN}` } });

  const [small, large] = await Promise.all([samplePng(1, 40, 30), samplePng(2, 400, 300)]);
  assert.equal((await put(small!)).status, 201);
  // A plain GET, as an edge's miss is: one request to the bucket, its head and bytes one version.
  seen.length = 0;
  const plain = await get(origin.url, '/p/x.png');
  assert.equal(sha256(plain.body), sha256(small!));
  assert.deepEqual(seen, ['GET']);
  let newEtag = '';
  replace = async () => {
    const replaced = await put(large!);
    assert.equal(replaced.status, 204);
    newEtag = replaced.headers.get('etag')!;
  };
  // A conditional GET (a plain one is a single request to the bucket, and cannot mix versions).
  const got = await get(origin.url, '/p/x.png', { headers: { 'if-none-match': '"another"' } });
  assert.equal(replace, null, 'the overwrite landed between the head and the body');
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), sha256(large!), 'the new version, whole');
  assert.equal(got.headers['etag'], newEtag);
});
