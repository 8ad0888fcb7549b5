import { test } from 'node:test';
import assert from 'node:assert/strict';
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
