import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Slots } from '../../src/transform/slots.js';
import { TransformBusy } from '../../src/errors.js';
import { Gate } from '../helpers/origin.js';

test('transforms run at most N at once, queue up to M, and are refused with 503 beyond', async () => {
  const depths: number[] = [];
  const slots = new Slots(1, 1, (n) => depths.push(n));
  const gate = new Gate();
  const order: string[] = [];
  const first = slots.run(async () => {
    await gate.opened;
    order.push('first');
  });
  const second = slots.run(async () => {
    order.push('second');
  });
  await assert.rejects(slots.run(async () => {}), (error: unknown) => {
    assert.ok(error instanceof TransformBusy);
    assert.equal(error.status, 503);
    assert.equal(error.retryAfterSec, 1);
    return true;
  });
  assert.equal(slots.queueDepth, 1);
  gate.open();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first', 'second']);
  assert.deepEqual(depths, [1, 0]);
  // Freed again: a new one runs at once.
  await slots.run(async () => {});
});
