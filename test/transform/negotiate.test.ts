import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateFormat } from '../../src/transform/negotiate.js';

test('format=auto: AVIF, then WebP, then the source\'s format; wildcards and q=0 choose nothing', () => {
  const table: [accept: string | undefined, chosen: string][] = [
    ['image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif'],
    ['image/webp,*/*', 'webp'],
    ['IMAGE/WEBP;Q=0.9', 'webp'],
    ['image/avif;q=0,image/webp', 'webp'],
    ['image/avif;q=0, image/webp;q=0', 'source'],
    ['image/*,*/*;q=0.8', 'source'],
    ['*/*', 'source'],
    ['', 'source'],
    [undefined, 'source'],
  ];
  for (const [accept, chosen] of table) assert.equal(negotiateFormat(accept), chosen, String(accept));
});
