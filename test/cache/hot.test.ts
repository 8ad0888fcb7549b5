// Small hot objects kept whole in memory, and the wire head a hit writes
// straight onto a socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HotObjects, hotObject } from '../../src/cache/hot.js';
import { policyFor } from '../../src/http/freshness.js';
import type { ObjectMeta } from '../../src/cache/store.js';
import type { HeaderMap } from '../../src/http/headers.js';

function meta(status: number, headers: HeaderMap, bodyBytes: number): ObjectMeta {
  const policy = policyFor({ url: '/x', method: 'GET', headers: {} }, { status, headers }, Date.now()).toObject();
  return { v: 1, key: '/x', status, lifetimeSec: 60, policy, bodyBytes };
}

test('the wire head of a 200: status line, stored fields, framing, each line ending CRLF', () => {
  const headers = { 'content-type': 'image/png', etag: '"e"' };
  const hot = hotObject(meta(200, headers, 3), headers, Buffer.from('abc'));
  assert.equal(hot.wholeHead, 'HTTP/1.1 200 OK\r\ncontent-type: image/png\r\netag: "e"\r\ncontent-length: 3\r\naccept-ranges: bytes\r\n');
  assert.deepEqual(hot.wholeHeaders, ['content-type', 'image/png', 'etag', '"e"', 'content-length', '3', 'accept-ranges', 'bytes']);
  assert.ok(Object.isFrozen(hot.headers) && Object.isFrozen(hot.wholeHeaders));
});

test('a remembered 404 offers no ranges; a status without a reason phrase still has its line', () => {
  const headers = { 'content-type': 'text/plain' };
  assert.equal(hotObject(meta(404, headers, 0), headers, Buffer.alloc(0)).wholeHead, 'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n');
  assert.equal(hotObject(meta(299, {}, 0), {}, Buffer.alloc(0)).wholeHead, 'HTTP/1.1 299 \r\ncontent-length: 0\r\n');
});

test('no wire head when a stored name or value is not one HTTP allows', () => {
  const refused: HeaderMap[] = [{ 'bad name': 'x' }, { 'x-a': 'line\r\nbreak' }, { 'x-a': 'nul\u0000' }, { '': 'x' }];
  for (const headers of refused) {
    assert.equal(hotObject(meta(200, headers, 0), headers, Buffer.alloc(0)).wholeHead, null, JSON.stringify(headers));
  }
  const fine = { 'x-a': 'tab\there, obs-text \u00e9' };
  assert.notEqual(hotObject(meta(200, fine, 0), fine, Buffer.alloc(0)).wholeHead, null);
});

test('memory is bounded by bytes with an overhead per object, least recently used out first', () => {
  const hot = new HotObjects(3 * (1000 + 1024));
  assert.equal(hot.maxObjectBytes, Math.floor((3 * 2024) / 16));
  const one = (n: number) => hotObject(meta(200, {}, 1000), {}, Buffer.alloc(1000, n));
  hot.set('a', one(1));
  hot.set('b', one(2));
  hot.set('c', one(3));
  assert.equal(hot.bytes, 3 * 2024);
  assert.ok(hot.get('a'));
  hot.set('d', one(4));
  assert.equal(hot.get('b'), undefined, 'the least recently used went');
  assert.ok(hot.get('a') && hot.get('c') && hot.get('d'));
  hot.delete('a');
  assert.equal(hot.get('a'), undefined);
  assert.equal(hot.bytes, 2 * 2024);
});

test('no memory: nothing is held; the largest object held is 1 MiB however much memory', () => {
  const none = new HotObjects(0);
  none.set('a', hotObject(meta(200, {}, 1), {}, Buffer.alloc(1)));
  assert.equal(none.get('a'), undefined);
  assert.equal(none.bytes, 0);
  assert.equal(none.maxObjectBytes, 0);
  assert.equal(new HotObjects(1 << 30).maxObjectBytes, 1024 * 1024);
});
