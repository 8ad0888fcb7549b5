import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRedisUrl, DEFAULT_STREAM } from '../../src/changelog/redis-url.js';
import { compareIds } from '../../src/changelog/redis-client.js';

test('redis://HOST:PORT[/DB][?stream=NAME]: the parts, the defaults, and no password in what is logged', () => {
  assert.deepEqual(parseRedisUrl('redis://r1'), { host: 'r1', port: 6379, db: 0, stream: DEFAULT_STREAM, describe: 'redis://r1/0?stream=imgedge%3Achanges' });
  const full = parseRedisUrl('redis://app:p%40ss@10.0.0.5:6380/3?stream=img%3Aprod');
  assert.equal(full.host, '10.0.0.5');
  assert.equal(full.port, 6380);
  assert.equal(full.db, 3);
  assert.equal(full.stream, 'img:prod');
  assert.equal(full.username, 'app');
  assert.equal(full.password, 'p@ss');
  assert.doesNotMatch(full.describe, /p@ss|p%40ss|app/);
  assert.equal(parseRedisUrl('redis://[::1]:6379').host, '::1');
  for (const bad of ['rediss://r', 'http://r', 'redis://r/x', 'redis://r?db=1', 'redis://r?stream=', 'redis://r#f', 'redis://']) {
    assert.throws(() => parseRedisUrl(bad), Error, bad);
  }
});

test('stream IDs compare by time, then by sequence, past what a double holds', () => {
  assert.equal(compareIds('0-0', '0-0'), 0);
  assert.equal(compareIds('1-0', '0-9'), 1);
  assert.equal(compareIds('5-2', '5-10'), -1);
  assert.equal(compareIds('1700000000000-18446744073709551615', '1700000000000-18446744073709551614'), 1);
});
