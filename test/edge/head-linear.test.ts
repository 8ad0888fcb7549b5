// The lane's head check runs on bytes any client sends, on the only thread:
// its cost must grow with the head's length, never with its square. Each
// worst case is timed at 1 KiB and at 32 KiB, as cost per byte: linear code
// costs about the same per byte at both sizes, quadratic code 32 times more,
// a gap wide enough to tell apart on a loaded machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainRequest } from '../../src/edge/hit-lane.js';

const REQUEST_LINE = 'GET /a.jpg HTTP/1.1\r\nHost: x';

/** Heads of about `bytes` bytes built to make a backtracking pattern work hardest. */
const WORST_CASES: Record<string, (bytes: number) => string> = {
  'spaces inside X-Request-Id': (n) => `${REQUEST_LINE}\r\nX-Request-Id: a${' '.repeat(n)}b`,
  'spaces ending X-Request-Id': (n) => `${REQUEST_LINE}\r\nX-Request-Id:${' '.repeat(n)}`,
  'tabs and spaces in X-Request-Id': (n) => `${REQUEST_LINE}\r\nX-Request-Id: ${'\t '.repeat(n / 2)}x`,
  'spaces in Connection': (n) => `${REQUEST_LINE}\r\nConnection:${' '.repeat(n)}keep-alive${' '.repeat(n)}x`,
  'many Connection lines': (n) => `${REQUEST_LINE}${'\r\nConnection: ke'.repeat(n / 15)}`,
  'many X-Request-Id lines': (n) => `${REQUEST_LINE}${'\r\nX-Request-Id: '.repeat(n / 16)}`,
  'many If- lines without colon runs': (n) => `${REQUEST_LINE}${'\r\nif-a: b'.repeat(n / 9)}`,
  'many fields': (n) => `${REQUEST_LINE}${'\r\na:b'.repeat(n / 5)}`,
  'a long target': (n) => `GET /${'a'.repeat(n)} HTTP/1.1\r\nHost: x`,
  'a long target with a space': (n) => `GET /${'a'.repeat(n)} x HTTP/1.1\r\nHost: x`,
  'a bare CR after a long value': (n) => `${REQUEST_LINE}\r\nX-A: ${'v'.repeat(n)}\rx`,
  'many Host-like lines': (n) => `${REQUEST_LINE}${'\r\nhost-x: y'.repeat(n / 10)}`,
};

/**
 * Nanoseconds per byte of the head: the best of several runs. Each run does
 * about 4 MB of heads, or stops after 100 ms (quadratic code at 16 KiB).
 */
function costPerByte(head: string): number {
  const reps = Math.max(1, Math.round(4_000_000 / head.length));
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 7; run++) {
    const started = process.hrtime.bigint();
    let done = 0;
    let ns = 0;
    while (done < reps && ns < 100e6) {
      plainRequest(head);
      done++;
      ns = Number(process.hrtime.bigint() - started);
    }
    best = Math.min(best, ns / done / head.length);
  }
  return best;
}

for (const [name, make] of Object.entries(WORST_CASES)) {
  test(`the head check is linear: ${name}`, () => {
    const small = make(1024);
    const large = make(32 * 1024);
    assert.ok(large.length >= 31 * 1024 && large.length < 80 * 1024, `${name}: ${large.length} bytes`);
    plainRequest(large); // compiled before it is timed
    const ratio = costPerByte(large) / costPerByte(small);
    // Linear: about 1. Quadratic: about 32. The margin is for a loaded machine.
    assert.ok(ratio < 10, `${name}: a byte of a 32 KiB head costs ${ratio.toFixed(1)}× a byte of a 1 KiB one`);
  });
}

test('X-Request-Id is read without the spaces and tabs around it, however many', () => {
  assert.equal(plainRequest(`${REQUEST_LINE}\r\nX-Request-Id: \t r-1 \t `)?.requestId, 'r-1');
  assert.equal(plainRequest(`${REQUEST_LINE}\r\nX-Request-Id:${' '.repeat(5000)}`)?.requestId, '');
  assert.equal(plainRequest(`${REQUEST_LINE}\r\nX-Request-Id: a  b\r\nAccept: */*`)?.requestId, 'a  b');
  assert.equal(plainRequest(`${REQUEST_LINE}\r\nAccept: */*`)?.requestId, undefined);
});

test('a head of more fields than Node keeps is the app\'s, whatever it holds', () => {
  const fields = (n: number) => 'GET /a.jpg HTTP/1.1' + '\r\nx-f: v'.repeat(n) + '\r\nHost: x';
  assert.ok(plainRequest(fields(1999)));
  assert.equal(plainRequest(fields(2000)), null);
});
