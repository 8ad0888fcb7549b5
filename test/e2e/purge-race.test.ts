// Purges raced against fills: before the origin's head, in the middle of the
// body, the moment the client's answer ends (while the object is still being
// committed), and just after. An uploader replaces the image at the origin,
// then purges; from the purge's answer on, the edge must never serve the old
// bytes. Objects of every size, under background traffic, with a fixed seed;
// the lost purges are counted, and there must be none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestOrigin } from '../helpers/origin.js';
import { get, request, bytes, sha256, type Got } from '../helpers/http.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';

const TOKEN = 'race-token';
const SIZES = [0, 1, 700, 16 * 1024, 64 * 1024 + 3, 300_000, 1_500_000];
const MOMENTS = ['before the head', 'mid-body', 'as the answer ends', 'just after the answer'] as const;
const TRIALS = 112;

let origin: TestOrigin;
let edge: TestEdge;

/** mulberry32: a small seeded generator, so every run races the same way. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url, { args: ['--admin-token', TOKEN] });
});

after(async () => {
  await edge?.close();
  await origin?.stop();
});

async function purge(path: string): Promise<number> {
  const res = await request(edge.adminUrl, '/purge', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ paths: [path] }),
  });
  assert.equal(res.status, 200, res.body.toString());
  return (JSON.parse(res.body.toString()) as { purged: number }).purged;
}

test(`purges raced against fills of every size, ${TRIALS} times under load: none is lost`, async (t) => {
  const random = seeded(20261205);
  // Background traffic: hits and misses on other objects all along.
  for (let i = 0; i < 20; i++) origin.set(`/background/${i}.jpg`, { body: bytes(5000 + i * 3000, `bg${i}`) });
  let running = true;
  const background = (async () => {
    for (let n = 0; running; n++) await get(edge.url, `/background/${n % 20}.jpg?n=${n % 37}`);
  })();

  const lost: string[] = [];
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      const size = SIZES[trial % SIZES.length]!;
      const moment = MOMENTS[Math.floor(trial / SIZES.length) % MOMENTS.length]!;
      const path = `/race/${trial}.jpg`;
      const query = random() < 0.3 ? `?v=${trial}` : '';
      const oldBody = bytes(size, `old${trial}`);
      const newBody = bytes(size + 1, `new${trial}`);
      const slow = moment === 'mid-body' || moment === 'before the head';
      origin.set(path, {
        body: oldBody,
        latencyMs: moment === 'before the head' ? 30 : Math.floor(random() * 3),
        bodyMs: slow && size > 10 ? 40 : undefined,
      });
      const replaceAndPurge = async () => {
        origin.set(path, { body: newBody });
        await purge(path);
      };

      let purged: Promise<void> | undefined;
      const first = get(edge.url, path + query, {
        onData: () => {
          if (moment === 'mid-body') purged ??= replaceAndPurge();
        },
      });
      if (moment === 'before the head') {
        await new Promise((resolve) => setTimeout(resolve, 10));
        purged = replaceAndPurge();
      }
      const answer: Got = await first;
      assert.ok(answer.complete, `${path}: the first answer is whole`);
      if (moment === 'as the answer ends') purged = replaceAndPurge();
      if (moment === 'just after the answer') {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 4)));
        purged = replaceAndPurge();
      }
      // A body too small for a mid-body moment is purged as it ends.
      await (purged ?? replaceAndPurge());

      for (const target of [path + query, path]) {
        const after = await get(edge.url, target);
        if (sha256(after.body) !== sha256(newBody)) {
          lost.push(`${target} (${size} bytes, purged ${moment}): ${after.headers['cache-status']}`);
        }
      }
    }
  } finally {
    running = false;
    await background;
  }
  t.diagnostic(`${TRIALS} purges raced; lost: ${lost.length}`);
  assert.deepEqual(lost, [], 'after a purge is answered, the old bytes are never served');
});
