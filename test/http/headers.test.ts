// Header value helpers: HTTP-dates exactly as RFC 9110 §5.6.7 has them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpDate, httpDate, httpDateNow } from '../../src/http/headers.js';

const NOW = Date.parse('2026-12-05T12:00:00Z');
const WHEN = Date.parse('2050-08-18T02:01:18Z');

test('parseHttpDate: the three forms a recipient must accept, names in any case', () => {
  const table: [string, number][] = [
    ['Thu, 18 Aug 2050 02:01:18 GMT', WHEN],
    ['THU, 18 AUG 2050 02:01:18 gMT', WHEN],
    ['Thursday, 18-Aug-50 02:01:18 GMT', WHEN],
    ['Thu Aug 18 02:01:18 2050', WHEN],
    ['Thu Aug  8 02:01:18 2050', Date.parse('2050-08-08T02:01:18Z')],
    ['Tue, 19 Jan 2038 14:14:08 GMT', Date.parse('2038-01-19T14:14:08Z')],
    ['Sun, 21 Nov 2286 04:46:39 GMT', Date.parse('2286-11-21T04:46:39Z')],
    [httpDate(NOW), NOW],
  ];
  for (const [text, expected] of table) assert.equal(parseHttpDate(text, NOW), expected, text);
});

test('parseHttpDate: an RFC 850 year more than 50 years ahead is in the past', () => {
  assert.equal(parseHttpDate('Tuesday, 18-Aug-76 02:01:18 GMT', NOW), Date.parse('2076-08-18T02:01:18Z'));
  assert.equal(parseHttpDate('Thursday, 18-Aug-77 02:01:18 GMT', NOW), Date.parse('1977-08-18T02:01:18Z'));
  assert.equal(parseHttpDate('Thursday, 18-Aug-80 02:01:18 GMT', NOW), Date.parse('1980-08-18T02:01:18Z'));
});

test('parseHttpDate: anything else is invalid', () => {
  for (const text of [
    'Thu, 18 Aug 2050 02:01:18 UTC', 'Thu, 18 Aug 2050 02:01:18 AEST', 'Thu, 18 Aug 50 02:01:18 GMT',
    'Thu 18 Aug 2050 02:01:18 GMT', 'Thu, 18  Aug  2050 02:01:18 GMT', 'Thu, 18-Aug-2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 02.01.18 GMT', 'Thu, 18 Aug 2050 2:01:18 GMT', 'Thu, 31 Feb 2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 24:01:18 GMT', 'Thu, 18 Aug 2050 2:01:18 GMT, Thu, 18 Aug 2050 2:01:19 GMT',
    // Within the hour or the day once rolled over, so the day alone cannot tell.
    'Thu, 18 Aug 2050 02:60:18 GMT', 'Thu, 18 Aug 2050 02:01:61 GMT', 'Thu Aug 18 02:99:18 2050', 'Thu, 00 Aug 2050 02:01:18 GMT',
    // A leap second does not make a day or an hour out of range valid.
    'Thu, 00 Aug 2050 02:01:60 GMT', 'Thu, 32 Aug 2050 02:01:60 GMT', 'Thu, 18 Aug 2050 24:01:60 GMT',
    '0', '-1', '', '2050-08-18T02:01:18Z',
  ]) {
    assert.ok(Number.isNaN(parseHttpDate(text, NOW)), text);
  }
  assert.ok(Number.isNaN(parseHttpDate(undefined)));
});

test('parseHttpDate: every month, in each of the three forms', () => {
  const LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  for (let month = 0; month < 12; month++) {
    const when = Date.UTC(2050, month, 18, 2, 1, 18);
    const imf = httpDate(when);
    const [day, date, mon, year, time] = imf.replace(',', '').split(' ') as [string, string, string, string, string];
    assert.equal(parseHttpDate(imf, NOW), when, imf);
    const rfc850 = `${LONG[new Date(when).getUTCDay()]!}, ${date}-${mon}-${year.slice(2)} ${time} GMT`;
    assert.equal(parseHttpDate(rfc850, NOW), when, rfc850);
    const asctime = `${day} ${mon} ${date} ${time} ${year}`;
    assert.equal(parseHttpDate(asctime, NOW), when, asctime);
  }
});

test('parseHttpDate: a leap second, even the last of a month; whitespace around (undici keeps a trailing one)', () => {
  assert.equal(parseHttpDate('Wed, 31 Dec 2008 23:59:60 GMT', NOW), Date.parse('2009-01-01T00:00:00Z'));
  assert.equal(parseHttpDate('Thu, 18 Aug 2050 02:01:60 GMT', NOW), Date.parse('2050-08-18T02:02:00Z'));
  assert.equal(parseHttpDate(' Thu, 18 Aug 2050 02:01:18 GMT \t', NOW), WHEN);
  assert.equal(parseHttpDate('Thu Aug 18 02:01:18 2050  ', NOW), WHEN);
});

test('httpDateNow: the Date text of the current second', () => {
  // Bounded by the clock read before and after, so a second turning over in between passes.
  for (let i = 0; i < 3; i++) {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const text = httpDateNow();
    const after = Math.floor(Date.now() / 1000) * 1000;
    const at = Date.parse(text);
    assert.ok(at >= before && at <= after, `${text} between ${httpDate(before)} and ${httpDate(after)}`);
    assert.equal(text, httpDate(at));
  }
});
