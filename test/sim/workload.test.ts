// The simulation's pure parts: the Zipf draw and the spread of round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Zipf } from '../../sim/workload.js';
import { spreadRtt } from '../../sim/fleet.js';
import { Random } from '../../soak/random.js';

test('Zipf(1) over 10 ranks: rank k drawn in proportion to 1/(k+1)', () => {
  const zipf = new Zipf(10);
  const random = new Random(1);
  const counts = new Array<number>(10).fill(0);
  const draws = 100_000;
  for (let i = 0; i < draws; i++) counts[zipf.sample(random.next())]!++;
  const harmonic = Array.from({ length: 10 }, (_, k) => 1 / (k + 1)).reduce((a, b) => a + b, 0);
  for (const [k, count] of counts.entries()) {
    const expected = draws / (k + 1) / harmonic;
    assert.ok(Math.abs(count - expected) < 5 * Math.sqrt(expected), `rank ${k}: ${count}, expected about ${expected.toFixed(0)}`);
  }
  assert.equal(zipf.sample(0), 0);
  assert.equal(zipf.sample(0.999999), 9);
});

test('round trips are spread evenly from the lowest to the highest', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => spreadRtt([20, 80], 5, i)), [20, 35, 50, 65, 80]);
  assert.equal(spreadRtt([20, 80], 1, 0), 20);
});
