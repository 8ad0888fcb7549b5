// Freshness when the origin's clock is not the edge's: Expires is measured
// from the origin's own Date (RFC 9111 §4.2.1), never from when the response
// arrived, and a missing or broken Date falls back to the arrival time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideStore, explicitLifetime, type FreshnessRules } from '../../src/http/freshness.js';
import { httpDate } from '../../src/http/headers.js';

const RULES: FreshnessRules = { defaultTtlSec: 3600, negativeTtlSec: 10, staleIfErrorSec: 86_400 };
const ARRIVED = Date.parse('2024-03-01T12:00:00Z');
const HOUR = 3_600_000;

test('explicitLifetime: Expires minus the origin\'s Date, whatever the edge\'s clock says', () => {
  // The origin's clock an hour behind, and an hour ahead, of the edge's.
  for (const skew of [-HOUR, HOUR, -30_000, 30_000]) {
    const date = ARRIVED + skew;
    const headers = { date: httpDate(date), expires: httpDate(date + 600_000) };
    assert.equal(explicitLifetime(headers, ARRIVED), 600, `origin clock off by ${skew / 1000} s`);
  }
});

test('explicitLifetime: without a usable Date, Expires minus the arrival time', () => {
  assert.equal(explicitLifetime({ expires: httpDate(ARRIVED + 600_000) }, ARRIVED), 600);
  assert.equal(explicitLifetime({ date: 'not a date', expires: httpDate(ARRIVED + 600_000) }, ARRIVED), 600);
  assert.equal(explicitLifetime({ date: httpDate(ARRIVED), expires: httpDate(ARRIVED - 600_000) }, ARRIVED + HOUR), 0, 'never negative');
});

test('decideStore: a 200 and a 404 from an origin whose clock is behind are kept for Expires minus Date', () => {
  const date = ARRIVED - HOUR;
  const headers = { date: httpDate(date), expires: httpDate(date + 120_000) };
  assert.deepEqual(decideStore(200, headers, RULES, ARRIVED), { store: true, lifetimeSec: 120 });
  assert.deepEqual(decideStore(404, headers, RULES, ARRIVED), { store: true, lifetimeSec: 120 });
  assert.deepEqual(decideStore(301, headers, RULES, ARRIVED), { store: true, lifetimeSec: 120 });
});

test('property: the lifetime from Expires and Date does not depend on the arrival time', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 ** 6 }), fc.integer({ min: -(10 ** 7), max: 10 ** 7 }), (lifetimeSec, skewSec) => {
      const date = ARRIVED + skewSec * 1000;
      const headers = { date: httpDate(date), expires: httpDate(date + lifetimeSec * 1000) };
      assert.equal(explicitLifetime(headers, ARRIVED), lifetimeSec);
    }),
    { seed: 7, numRuns: 200 },
  );
});
