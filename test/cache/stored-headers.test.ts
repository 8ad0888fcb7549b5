// The header fields of stored objects: what is never kept, how a 304 refreshes
// the rest, and the validators a revalidation sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentLength, refreshedHeaders, storableHeaders, storedHeaders, validators } from '../../src/cache/stored-headers.js';
import { policyFor } from '../../src/http/freshness.js';
import type { ObjectMeta } from '../../src/cache/store.js';
import type { HeaderMap } from '../../src/http/headers.js';

const NEVER_STORED = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'set-cookie', 'cache-status',
  'surrogate-control',
];

test('hop-by-hop fields, framing, Set-Cookie, Cache-Status and Surrogate-Control are never stored; the rest is, as sent', () => {
  const sent: HeaderMap = { 'content-type': 'image/jpeg', etag: '"a"', 'x-custom': 'Kept As Sent' };
  for (const name of NEVER_STORED) sent[name] = 'x';
  sent.connection = 'close';
  assert.deepEqual(storableHeaders(sent), { 'content-type': 'image/jpeg', etag: '"a"', 'x-custom': 'Kept As Sent' });
});

test('fields named in Connection are hop-by-hop too, in any case and spacing', () => {
  const sent: HeaderMap = { connection: ' X-Hop ,x-other', 'x-hop': '1', 'x-other': '2', 'x-end': '3' };
  assert.deepEqual(storableHeaders(sent), { 'x-end': '3' });
  assert.deepEqual(storableHeaders({ 'x-end': '3' }), { 'x-end': '3' }, 'no Connection field at all');
});

test('Content-Length counts only as a plain decimal', () => {
  assert.equal(contentLength({ 'content-length': '1234' }), 1234);
  assert.equal(contentLength({ 'content-length': '0' }), 0);
  assert.equal(contentLength({}), undefined);
  for (const bad of ['', '-1', '12a', 'a12', '1 2', '1.5', '0x10']) assert.equal(contentLength({ 'content-length': bad }), undefined, bad);
});

function meta(headers: HeaderMap): ObjectMeta {
  const policy = policyFor({ url: '/x', method: 'GET', headers: {} }, { status: 200, headers }, Date.now()).toObject();
  return { v: 1, key: '/x', status: 200, lifetimeSec: 60, policy, bodyBytes: 0 };
}

test('a stored object is answered with the headers it was stored with, less the Age it arrived with', () => {
  assert.deepEqual(storedHeaders(meta({ 'content-type': 'image/png', age: '30', etag: '"e"' })), { 'content-type': 'image/png', etag: '"e"' });
});

test('a 304 updates every stored field it carries except those about the body; its hop-by-hop fields are dropped', () => {
  const stored: HeaderMap = {
    'content-type': 'image/jpeg', etag: '"a"', 'cache-control': 'max-age=60', 'content-encoding': 'identity',
    'content-range': 'bytes 0-1/2', 'content-md5': 'old', 'x-kept': 'yes',
  };
  const notModified: HeaderMap = {
    'cache-control': 'max-age=600', etag: '"b"', 'content-length': '0', 'content-encoding': 'gzip',
    'content-range': 'bytes 0-0/1', 'content-md5': 'new', 'x-new': 'fresh', 'set-cookie': 'a=b', connection: 'close',
  };
  assert.deepEqual(refreshedHeaders(stored, notModified), {
    'content-type': 'image/jpeg', etag: '"a"', 'cache-control': 'max-age=600', 'content-encoding': 'identity',
    'content-range': 'bytes 0-1/2', 'content-md5': 'old', 'x-kept': 'yes', 'x-new': 'fresh',
  });
  assert.equal(stored['cache-control'], 'max-age=60', 'the stored map is not changed in place');
});

test('a revalidation sends the stored ETag and Last-Modified, each only when there is one', () => {
  const lastModified = 'Wed, 01 Jan 2025 00:00:00 GMT';
  assert.deepEqual(validators(meta({ etag: '"e"', 'last-modified': lastModified })), { 'if-none-match': '"e"', 'if-modified-since': lastModified });
  assert.deepEqual(validators(meta({ etag: '"e"' })), { 'if-none-match': '"e"' });
  assert.deepEqual(validators(meta({ 'last-modified': lastModified })), { 'if-modified-since': lastModified });
  assert.deepEqual(validators(meta({ 'content-type': 'image/png' })), {});
});
