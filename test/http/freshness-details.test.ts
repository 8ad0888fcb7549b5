// The finer points of the freshness rules: Surrogate-Control's syntax and
// targeting, and the current age of a stored response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentAge, decideStore, policyFor, surrogateControl, type FreshnessRules } from '../../src/http/freshness.js';

const RULES: FreshnessRules = { defaultTtlSec: 3600, negativeTtlSec: 10, staleIfErrorSec: 86_400 };
const NOW = Date.parse('2024-03-01T12:00:00Z');

test('surrogateControl: unqualified and ;imgedge directives, the targeted ones winning in any order and case', () => {
  assert.deepEqual(surrogateControl({}), { noStore: false, maxAge: undefined });
  assert.deepEqual(surrogateControl({ 'surrogate-control': '' }), { noStore: false, maxAge: undefined });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age=30' }), { noStore: false, maxAge: 30 });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'MAX-AGE="45"' }), { noStore: false, maxAge: 45 });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age=5;ImgEdge, max-age=300' }), { noStore: false, maxAge: 5 });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age=7 ; imgedge , , no-store;other' }), { noStore: false, maxAge: 7 });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'no-store;imgedge' }), { noStore: true, maxAge: undefined });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'No-Store' }), { noStore: true, maxAge: undefined });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age=abc' }), { noStore: false, maxAge: undefined });
  assert.deepEqual(surrogateControl({ 'surrogate-control': '=5, ;imgedge' }), { noStore: false, maxAge: undefined });
  // Each directive is read as Cache-Control's are: spaces around "=", quotes, no value.
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age = 20 ;imgedge, max-age=5' }), { noStore: false, maxAge: 20 });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age, no-store;other' }), { noStore: false, maxAge: undefined });
  assert.deepEqual(surrogateControl({ 'surrogate-control': 'max-age="5"3"' }), { noStore: false, maxAge: undefined });
});

test('decideStore: Surrogate-Control max-age=0 stores for revalidation only; an invalid one leaves Cache-Control in charge', () => {
  assert.deepEqual(decideStore(200, { 'surrogate-control': 'max-age=0', 'cache-control': 'max-age=600', etag: '"v"' }, RULES, NOW), { store: true, lifetimeSec: 0 });
  assert.deepEqual(decideStore(200, { 'surrogate-control': 'max-age=x', 'cache-control': 'max-age=600' }, RULES, NOW), { store: true, lifetimeSec: 600 });
  assert.deepEqual(decideStore(404, { 'surrogate-control': 'max-age=120' }, RULES, NOW), { store: true, lifetimeSec: 120 });
});

test('currentAge: the Age it came with plus the time held, in seconds, never negative', () => {
  const policy = (age?: string) =>
    policyFor({ url: '/a', method: 'GET', headers: {} }, { status: 200, headers: { 'cache-control': 'max-age=600', ...(age === undefined ? {} : { age }) } }, NOW).toObject();
  assert.equal(currentAge(policy(), NOW), 0);
  assert.equal(currentAge(policy(), NOW + 1500), 1.5);
  assert.equal(currentAge(policy('100'), NOW), 100);
  assert.equal(currentAge(policy('100'), NOW + 10_000), 110);
  assert.equal(currentAge(policy('junk'), NOW + 2000), 2);
  assert.equal(currentAge(policy(), NOW - 5000), 0, 'a clock that went back gives 0, not a negative age');
});
