// Responses that vary: stored per variant, found under every list of names
// the key has varied on, each revalidated under its own key, and waiters on
// a fill that turns out to vary served their own variant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import type { BodyWriter } from '../../src/cache/body-writer.js';
import type { OriginResponse } from '../../src/origin-client.js';
import type { HeaderMap } from '../../src/http/headers.js';
import { written } from '../helpers/body-sink.js';
import { harness, heldBody, httpOrigin, lookup, read, PlainFetcher } from '../helpers/cache.js';

test('a response that varies is stored per variant, and each request gets its own', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/v.jpg', (req) => ({
    body: `for ${req.headers['accept-language']}`,
    headers: { 'content-type': 'image/jpeg', vary: 'Accept-Language', 'cache-control': 'max-age=600' },
  }));
  const h = await harness(t, client);
  const en = (await read(await h.cache.get({ ...lookup('/v.jpg', { 'accept-language': 'en' }), headers: { 'accept-language': 'en' } }))).bytes;
  await h.cache.fillsSettled();
  const fr = await h.cache.get({ ...lookup('/v.jpg', { 'accept-language': 'fr' }), headers: { 'accept-language': 'fr' } });
  assert.equal(fr.cacheStatus.fwd, 'miss');
  assert.equal((await read(fr)).bytes.toString(), 'for fr');
  await h.cache.fillsSettled();
  assert.equal(en.toString(), 'for en');
  const enAgain = await h.cache.get(lookup('/v.jpg', { 'accept-language': 'en' }));
  assert.equal(enAgain.cacheStatus.hit, true);
  assert.equal((await read(enAgain)).bytes.toString(), 'for en');
  assert.equal(origin.count('/v.jpg'), 2);
  assert.equal(h.index.count, 2);
});

test('a variant is found under every header-name list the key has varied on, not only the first', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let varyOn = 'x-a';
  origin.set('/vv.jpg', (req) => ({
    body: `a=${req.headers['x-a']} b=${req.headers['x-b']}`,
    headers: { 'content-type': 'image/jpeg', vary: varyOn, 'cache-control': 'max-age=600' },
  }));
  const h = await harness(t, client);
  const ask = (request: HeaderMap) => ({ ...lookup('/vv.jpg', request), headers: request });
  await read(await h.cache.get(ask({ 'x-a': '1' })));
  await h.cache.fillsSettled();
  varyOn = 'x-b';
  await read(await h.cache.get(ask({ 'x-a': '2', 'x-b': '1' })));
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 2);
  const hit = await h.cache.get(ask({ 'x-a': '9', 'x-b': '1' }));
  assert.equal(hit.cacheStatus.hit, true, 'found under the second list of names');
  assert.equal((await read(hit)).bytes.toString(), 'a=2 b=1');
  assert.equal(origin.count('/vv.jpg'), 2);
});

test('a stale variant is revalidated under its own key: the other variants stay', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/sv.jpg', (req) => ({
    body: `for ${req.headers['accept-language']}`,
    headers: { 'content-type': 'image/jpeg', vary: 'Accept-Language', etag: `"${req.headers['accept-language']}"`, 'cache-control': 'max-age=10' },
    date: false,
  }));
  const h = await harness(t, client);
  const ask = (lang: string) => ({ ...lookup('/sv.jpg', { 'accept-language': lang }), headers: { 'accept-language': lang } });
  for (const lang of ['en', 'fr']) {
    await read(await h.cache.get(ask(lang)));
    await h.cache.fillsSettled();
  }
  h.clock.advance(20);
  const revalidated = await h.cache.get(ask('en'));
  assert.equal(revalidated.cacheStatus.fwdStatus, 304);
  assert.equal((await read(revalidated)).bytes.toString(), 'for en');
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 2, 'both variants are still stored');
  const fr = await h.cache.get(ask('fr'));
  assert.equal(fr.cacheStatus.fwdStatus, 304, 'the other variant, stale too, is revalidated, not fetched whole');
  assert.equal((await read(fr)).bytes.toString(), 'for fr');
  await h.cache.fillsSettled();
  // Both stale at once: each revalidation is its variant's own, neither joins the other.
  h.clock.advance(20);
  const both = await Promise.all([h.cache.get(ask('en')), h.cache.get(ask('fr'))]);
  assert.deepEqual(await Promise.all(both.map(async (answer) => (await read(answer)).bytes.toString())), ['for en', 'for fr']);
});

/** A response varying on Accept-Language (and on whatever else `vary` says), its body `for <language>` and the other varied values. */
function varying(headers: HeaderMap, vary: string, sent: (text: string) => string): OriginResponse {
  const text = ['for', headers['accept-language'], headers['x-other']].filter(Boolean).join(' ');
  return {
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'content-length': String(text.length), vary, 'cache-control': 'max-age=600' },
    body: heldBody(Buffer.from(sent(text))),
  };
}

test('waiters on a fill whose response turns out to vary: one presenting other values fetches its own variant, which later waiters join, or find whole as a hit', async (t) => {
  const bodies: Readable[] = [];
  // The first body comes whole with its head; the others in two parts.
  const fetcher = new PlainFetcher((headers) => {
    const answer = varying(headers, 'Accept-Language', (text) => (bodies.length === 0 ? text : text.slice(0, 3)));
    bodies.push(answer.body);
    return answer;
  });
  const h = await harness(t, fetcher);
  t.after(() => bodies.forEach((body) => body.destroy()));
  const ask = (lang: string) => h.cache.get({ ...lookup('/own.jpg', { 'accept-language': lang }), headers: { 'accept-language': lang } });
  const [en, fr] = await Promise.all([ask('en'), ask('fr')]);
  assert.equal(fetcher.calls, 2, 'the French waiter fetched its own variant');
  assert.equal(h.joins.count, 1);
  assert.deepEqual([en!.cacheStatus.collapsed, fr!.cacheStatus.collapsed], [false, false]);
  // Another French request joins the French fetch, counted for each fetch it joined.
  const joined = await ask('fr');
  assert.equal(joined.cacheStatus.fwd, 'miss');
  assert.equal(joined.cacheStatus.collapsed, true);
  assert.equal(h.joins.count, 3);
  bodies[1]!.push(Buffer.from(' fr'));
  // Every byte of the French body is in (its length known), though not yet committed.
  const whole = await written(fr!.body(0, fr!.size) as BodyWriter);
  assert.equal(Buffer.concat(whole.chunks).toString(), 'for fr');
  h.clock.advance(10);
  const late = await ask('fr');
  assert.deepEqual(late.cacheStatus, { hit: true, ttl: 590 });
  assert.equal(h.joins.count, 5);
  for (const body of bodies) body.push(null);
  const texts = await Promise.all([en!, joined, late].map(async (answer) => (await read(answer)).bytes.toString()));
  assert.deepEqual(texts, ['for en', 'for fr', 'for fr']);
  await h.cache.fillsSettled();
  assert.equal(fetcher.calls, 2);
  assert.equal(h.index.count, 2);
});

test('a waiter on another waiter\'s own variant is passed through when the origin has meanwhile changed what it varies on', async (t) => {
  const fetcher = new PlainFetcher((headers) => {
    const answer = varying(headers, fetcher.calls === 1 ? 'Accept-Language' : 'Accept-Language, X-Other', (text) => text);
    answer.body.push(null);
    return answer;
  });
  const h = await harness(t, fetcher);
  const ask = (request: HeaderMap) => h.cache.get({ ...lookup('/changed.jpg', request), headers: request });
  const answers = await Promise.all([
    ask({ 'accept-language': 'en', 'x-other': '1' }),
    ask({ 'accept-language': 'fr', 'x-other': '1' }),
    ask({ 'accept-language': 'fr', 'x-other': '2' }),
  ]);
  assert.deepEqual(answers[2]!.cacheStatus, { fwd: 'bypass', passed: true });
  const texts = await Promise.all(answers.map(async (answer) => (await read(answer)).bytes.toString()));
  assert.deepEqual(texts, ['for en 1', 'for fr 1', 'for fr 2']);
  await h.cache.fillsSettled();
  assert.equal(fetcher.calls, 3);
});
