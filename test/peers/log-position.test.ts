import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerLogGate, type LogProgress } from '../../src/peers/log-position.js';
import { formatLogPoint, parseLogPoint } from '../../src/changelog/log-point.js';

test('a log point goes out as SEQ LOG and comes back the same; anything else is none', () => {
  const sent = formatLogPoint({ log: 'imgedge:changes 1-0', seq: 42, id: '17-0', staleBefore: 0 });
  assert.equal(sent, '42 imgedge:changes 1-0');
  assert.deepEqual(parseLogPoint(sent), { seq: 42, log: 'imgedge:changes 1-0' });
  for (const bad of [undefined, ['1 a', '2 a'], '', '42', '42 ', ' log', '-1 log', '1.5 log', '0x10 log', '99999999999999999999 log']) {
    assert.equal(parseLogPoint(bad), null, String(bad));
  }
});

test('the gate vouches at once when this replica has read as far, waits otherwise, and always without a log or a point', async () => {
  let seq = 3;
  const progress: LogProgress = {
    hasReached: (point) => point.log === 'L' && seq >= point.seq,
    reached: async (point, ms) => {
      await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 5)));
      return point.log === 'L' && seq >= point.seq;
    },
  };
  const gate = peerLogGate(progress);
  assert.equal(gate.vouches('3 L'), true);
  assert.equal(gate.vouches('4 L'), false);
  assert.equal(gate.vouches('1 M'), false, 'another log: nothing is known');
  assert.equal(gate.vouches(undefined), true, 'a request that names no point');
  assert.equal(await gate.waitFor('4 L', 10), false);
  seq = 4;
  assert.equal(await gate.waitFor('4 L', 10), true);
  assert.equal(peerLogGate(null).vouches('9 L'), true, 'a replica that follows no log');
});
