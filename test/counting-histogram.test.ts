import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { CountingHistogram } from '../src/counting-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

/** Each sample line as "name{sorted labels} value", so that label order does not matter. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)!;
      const labels = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
      return `${match[1]}{${labels}} ${Number(match[3])}`;
    })
    .sort();
}

test('CountingHistogram: property: its exposition is prom-client Histogram\'s for the same observations', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom('hit', 'miss', 'stale'), fc.double({ min: 0, max: 100, noNaN: true })), { maxLength: 200 }),
      async (observations) => {
        const ours = new Registry();
        const theirs = new Registry();
        const counting = new CountingHistogram('t_seconds', 'help', 'cache_status', BUCKETS, ours);
        const reference = new Histogram({ name: 't_seconds', help: 'help', labelNames: ['cache_status'], buckets: BUCKETS, registers: [theirs] });
        for (const [label, value] of observations) {
          counting.series(label).observe(value);
          reference.observe({ cache_status: label }, value);
        }
        const [a, b] = [samples(await ours.metrics()), samples(await theirs.metrics())];
        assert.equal(a.length, b.length);
        a.forEach((line, i) => {
          const [nameA, valueA] = line.split(' ');
          const [nameB, valueB] = b[i]!.split(' ');
          assert.equal(nameA, nameB);
          assert.ok(Math.abs(Number(valueA) - Number(valueB)) <= 1e-9 * Math.max(1, Math.abs(Number(valueB))), `${line} vs ${b[i]}`);
        });
        assert.match(await ours.metrics(), /# TYPE t_seconds histogram/);
      },
    ),
    { seed: 20261125, numRuns: 100 },
  );
});
