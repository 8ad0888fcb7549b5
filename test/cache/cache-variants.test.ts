// Responses that vary: stored per variant, found under every list of names
// the key has varied on, each revalidated under its own key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMap } from '../../src/http/headers.js';
import { harness, httpOrigin, lookup, read } from '../helpers/cache.js';

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
