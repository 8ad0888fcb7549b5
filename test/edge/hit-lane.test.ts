import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plainRequest } from '../../src/edge/hit-lane.js';

test('plainRequest: plain GETs and HEADs with one Host', () => {
  assert.deepEqual(plainRequest('GET /a/b.jpg?w=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nX-Request-Id: r1'), {
    method: 'GET', target: '/a/b.jpg?w=1', requestId: 'r1', logPoint: undefined, fromPeer: false,
  });
  assert.equal(plainRequest('HEAD / HTTP/1.1\r\nhost: x\r\nConnection: Keep-Alive')?.method, 'HEAD');
  // A peer's: how far it had read the change log, for the lane to check before it answers.
  assert.equal(plainRequest('GET /a.jpg HTTP/1.1\r\nHost: x\r\nimgedge-log-position:  12 L ')?.logPoint, '12 L');
  assert.equal(plainRequest('GET /a.jpg HTTP/1.1\r\nHost: x\r\nImgedge-Peer: http://10.0.0.2:8080')?.fromPeer, true);
});

test('plainRequest: anything the app must see, or a parser must judge, is not plain', () => {
  for (const head of [
    'POST /a HTTP/1.1\r\nHost: x',
    'GET /a HTTP/1.0\r\nHost: x',
    'GET http://x/a HTTP/1.1\r\nHost: x',
    'GET /a HTTP/1.1',
    'GET /a HTTP/1.1\r\nHost: x\r\nHost: y',
    'GET /a HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1',
    'GET /a HTTP/1.1\r\nHost: x\r\nIf-None-Match: "e"',
    'GET /a HTTP/1.1\r\nHost: x\r\nif-modified-since: now',
    'GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t',
    'GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0',
    'GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked',
    'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close',
    'GET /a HTTP/1.1\r\nHost: x\r\nConnection: upgrade',
    'GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue',
    'GET /a HTTP/1.1\r\nHost: x\r\n folded',
    'GET /a HTTP/1.1\r\nHost : x',
    'GET /a HTTP/1.1\r\nHost: x\nX-Hidden: y',
    'GET /a HTTP/1.1\r\nHost: x\rX-Hidden: y',
    'GET /a HTTP/1.1\r\nHost: x\r\nX: a\u0000b',
    'GET /a HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\r\nX-Request-Id: b',
    'GET  /a HTTP/1.1\r\nHost: x',
    'GET /a b HTTP/1.1\r\nHost: x',
  ]) {
    assert.equal(plainRequest(head), null, JSON.stringify(head));
  }
});

test('plainRequest: property: what it accepts has one request line, one Host, and no CR, LF or control byte in the target', () => {
  const piece = fc.constantFrom('GET', 'HEAD', ' ', '/', 'a', '\r\n', '\n', '\r', 'HTTP/1.1', 'Host', ':', 'x', 'Range', 'If-Match', '\t', '\u0000', '%2e', 'Content-Length');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }).map((parts) => parts.join('')), (head) => {
      const plain = plainRequest(head);
      if (!plain) return;
      assert.match(plain.target, /^\/[!-~]*$/);
      const lines = head.split('\r\n');
      assert.equal(lines.filter((line) => /^host:/i.test(line)).length, 1);
      assert.ok(lines.every((line) => !/[\r\n\u0000]/.test(line)));
      assert.ok(!lines.some((line) => /^(range|if-|content-length|transfer-encoding)/i.test(line)));
    }),
    { seed: 20261125, numRuns: 2000 },
  );
});
