import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Pipeline } from '../../src/transform/pipeline.js';
import { TransformBusy } from '../../src/errors.js';
import { photo } from '../helpers/images.js';

test('a full queue refuses the next transform at once (503, Retry-After), and the running ones finish', { timeout: 30_000 }, async () => {
  const pipeline = new Pipeline({ maxSourceBytes: 1e8, maxInputPixels: 1e8, timeoutMs: 20_000, concurrency: 1, maxQueued: 1 });
  const source = await photo(1200, 900);
  const running = pipeline.run(source, { w: 300 }, 'avif');
  const queued = pipeline.run(source, { w: 200 }, 'webp');
  await assert.rejects(pipeline.run(source, { w: 100 }, 'png'), (error: unknown) => error instanceof TransformBusy && error.status === 503);
  const [a, b] = await Promise.all([running, queued]);
  assert.equal(a.format, 'avif');
  assert.equal(b.format, 'webp');
});

test('a source tagged with another colour profile keeps its colours, converted to sRGB, and loses the profile', { timeout: 30_000 }, async () => {
  const pipeline = new Pipeline({ maxSourceBytes: 1e8, maxInputPixels: 1e8, timeoutMs: 20_000, concurrency: 1, maxQueued: 1 });
  const srgb = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toBuffer();
  // The same colour, stored as Display P3 values with the P3 profile attached.
  const p3 = await sharp(srgb).withIccProfile('p3').png().toBuffer();
  const stored = await sharp(p3).raw().keepIccProfile().toBuffer();
  assert.notDeepEqual([...stored.subarray(0, 3)], [200, 100, 50], 'the source holds P3 values');
  const out = await pipeline.run(p3, { w: 32 }, 'png');
  assert.equal((await sharp(out.body).metadata()).icc, undefined);
  const pixel = [...(await sharp(out.body).raw().toBuffer()).subarray(0, 3)];
  for (const [i, want] of [200, 100, 50].entries()) assert.ok(Math.abs(pixel[i]! - want) <= 3, `channel ${i}: ${pixel.join(',')}`);
});
