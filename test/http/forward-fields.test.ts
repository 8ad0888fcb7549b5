// The request headers a fill lends to the origin (RFC 9110 §7.6.1 hop-by-hop,
// and what belongs to one client), and Via (§7.6.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedHeaders as forwardedBy } from '../../src/http/forward.js';

const ME = 'imgedge-0123456789ab';
const VIA = `1.1 ${ME}`;
const forwardedHeaders = (request: Parameters<typeof forwardedBy>[0]) => forwardedBy(request, ME);

test('forwardedHeaders: end-to-end fields go on; one client\'s and hop-by-hop fields do not', () => {
  const dropped = [
    'host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding',
    'upgrade', 'content-length', 'content-type', 'expect', 'cookie', 'authorization', 'accept-encoding', 'range', 'if-range',
    'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since',
  ];
  const request: Record<string, string> = { 'user-agent': 'ua', accept: 'image/*', 'x-custom': 'kept' };
  for (const name of dropped) request[name] = `value of ${name}`;
  assert.deepEqual(forwardedHeaders(request), { 'user-agent': 'ua', accept: 'image/*', 'x-custom': 'kept', via: VIA });
});

test('forwardedHeaders: fields named in Connection are hop-by-hop too, in any case and spacing', () => {
  assert.deepEqual(
    forwardedHeaders({ connection: 'keep-alive,  X-Hop ,x-other', 'x-hop': '1', 'x-other': '2', 'x-kept': '3' }),
    { 'x-kept': '3', via: VIA },
  );
  assert.deepEqual(forwardedHeaders({ 'x-hop': '1' }), { 'x-hop': '1', via: VIA }, 'no Connection, nothing extra dropped');
});

test('forwardedHeaders: lists are joined, undefined skipped, and the edge appends itself to Via', () => {
  assert.deepEqual(
    forwardedHeaders({ accept: ['image/avif', 'image/webp'], 'x-none': undefined, via: '1.0 a, 1.1 b' }),
    { accept: 'image/avif, image/webp', via: `1.0 a, 1.1 b, ${VIA}` },
  );
  assert.deepEqual(forwardedHeaders({}), { via: VIA });
  assert.deepEqual(forwardedHeaders({ via: '' }), { via: VIA });
});
