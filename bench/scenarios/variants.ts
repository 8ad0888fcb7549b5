// f. Image variants: a 2000×1500 JPEG → a ~400 px WebP. Cold: each request
// a new variant (a new width) of a stored source, and apart, a new variant
// of a new source (the source a miss too), one at a time, against sharp
// called straight (the same operations and widths, bench/image.ts) in its
// own process on the cache's core, in alternating rounds so that all see
// the same machine. Warm: wrk on a stored variant against wrk on an original
// of the same size, also alternating.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { objectPath } from '../origin.js';
import { timedGet } from '../client.js';
import { spawnPinned, tempDir } from '../proc.js';
import { isHit, startTarget, TARGET_CORE, type Running } from '../targets.js';
import { fmt, goal, ratio, type ScenarioReport } from '../report.js';
import { errorText, type Context } from './context.js';
import { rps, wrk, WRK_SCRIPT, type WrkResult } from './hits.js';

const SOURCE = '2000x1500';
const WIDTH = 400;
const RAW_SCRIPT = fileURLToPath(new URL('../sharp-raw.js', import.meta.url));

async function rawRound(count: number, firstWidth: number): Promise<number> {
  const proc = spawnPinned('sharp-raw', process.execPath, [RAW_SCRIPT, '--count', String(count), '--source', SOURCE, '--width', String(firstWidth)], {
    core: TARGET_CORE, capture: true,
  });
  const how = await proc.exited;
  const line = proc.stdout().trim().split('\n').pop();
  if (!line?.startsWith('{')) throw new Error(`sharp-raw gave nothing (${how})`);
  return (JSON.parse(line) as { ms: number }).ms;
}

/**
 * `count` new variants in turn over one kept-alive connection, their total
 * ms: of one source (`name`) at new widths from `firstWidth`, or, with no
 * width, at WIDTH of a new source each.
 */
async function edgeRound(target: Running, name: string, count: number, firstWidth?: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const path = firstWidth === undefined ? `${name}-${i}.jpg?w=${WIDTH}` : `${name}.jpg?w=${firstWidth + i}`;
      const res = await timedGet(`${target.base}/img/${SOURCE}/${path}&format=webp`, { agent });
      if (res.status !== 200 || res.headers['content-type'] !== 'image/webp') throw new Error(`variant answered ${res.status}`);
    }
    return performance.now() - started;
  } finally {
    agent.destroy();
  }
}

export async function runVariants(ctx: Context): Promise<ScenarioReport> {
  const rounds = ctx.quick ? 2 : 4;
  const perRound = ctx.quick ? 8 : 20;
  const seconds = ctx.quick ? 3 : 8;
  const script = path.join(tempDir('wrk'), 'summary.lua');
  fs.writeFileSync(script, WRK_SCRIPT);
  let rawMs = 0;
  let edgeMs = 0;
  let newSourceMs = 0;
  const warm: { variant: WrkResult[]; original: WrkResult[] } = { variant: [], original: [] };
  let variantBytes = 0;
  let error: string | undefined;
  try {
    const target = await startTarget('imgedge', { originPort: ctx.origin.port, logLevel: 'warn' });
    try {
      // Unrecorded: the edge's first transforms pay for loading libvips; the source is stored.
      const source = `variants-${ctx.runId}-source`;
      await edgeRound(target, source, 3, WIDTH - 3);
      for (let round = 0; round < rounds; round++) {
        ctx.log(`variants: round ${round + 1}/${rounds}: ${perRound} each of raw sharp, new variants, new variants of new sources`);
        const firstWidth = WIDTH + round * perRound;
        rawMs += await rawRound(perRound, firstWidth);
        edgeMs += await edgeRound(target, source, perRound, firstWidth);
        newSourceMs += await edgeRound(target, `variants-${ctx.runId}-cold-${round}`, perRound);
      }
      const variantUrl = `${target.base}/img/${SOURCE}/variants-${ctx.runId}-hot.jpg?w=${WIDTH}&format=webp`;
      await timedGet(variantUrl);
      const seen = await timedGet(variantUrl);
      if (!isHit('imgedge', seen.headers)) throw new Error('the warm variant did not hit');
      variantBytes = seen.bytes;
      const originalUrl = target.base + objectPath({ name: `variants-${ctx.runId}-original`, size: variantBytes });
      await timedGet(originalUrl);
      if (!isHit('imgedge', (await timedGet(originalUrl)).headers)) throw new Error('the same-size original did not hit');
      await wrk(script, variantUrl, 1);
      await wrk(script, originalUrl, 1);
      for (let round = 0; round < 2; round++) {
        ctx.log(`variants: warm round ${round + 1}/2: ${seconds} s of wrk on the variant, then on the original`);
        warm.variant.push(await wrk(script, variantUrl, seconds));
        warm.original.push(await wrk(script, originalUrl, seconds));
      }
    } finally {
      await target.stop();
    }
  } catch (e) {
    error = errorText(e);
  }
  const count = rounds * perRound;
  const rawRate = rawMs ? (count * 1000) / rawMs : NaN;
  const edgeRate = edgeMs ? (count * 1000) / edgeMs : NaN;
  const newSourceRate = newSourceMs ? (count * 1000) / newSourceMs : NaN;
  const mean = (results: WrkResult[]) => (results.length ? results.reduce((sum, r) => sum + rps(r), 0) / results.length : NaN);
  const variantRps = mean(warm.variant);
  const originalRps = mean(warm.original);
  const errors = [...warm.variant, ...warm.original].reduce((sum, r) => sum + r.errors + r.status, 0);
  return {
    title: 'f. Image variants',
    setup: [
      `Cold: ${count} requests for new WebP variants (widths from ${WIDTH} up, one each) of one stored ${SOURCE} JPEG, and ${count} for ` +
        `${WIDTH} px WebP variants of new sources (each source a miss too), one at a time over one kept-alive connection, in ${rounds} rounds ` +
        `alternating with ${perRound} transforms to the same widths by sharp called straight (bench/sharp-raw.ts, the same operations, in its own ` +
        `process on core ${TARGET_CORE}, as imgedge). Warm: \`wrk\` on one stored variant (${variantBytes} bytes) and on an ` +
        `original of the same size, ${seconds} s each, twice, alternating. Ratios are of rates measured side by side.`,
      ...(error ? [`**Failed: ${error}**`] : []),
    ],
    tables: [{
      columns: ['what', 'rate', 'ratio'],
      rows: [
        ['raw sharp (transforms/s)', fmt(rawRate, 1), ''],
        ['imgedge, new variants of a stored source (variants/s)', fmt(edgeRate, 1), `${ratio(edgeRate, rawRate, 3)} of raw sharp`],
        ['imgedge, new variants of new sources (variants/s)', fmt(newSourceRate, 1), `${ratio(newSourceRate, rawRate, 3)} of raw sharp`],
        ['imgedge, hits on an original (req/s)', fmt(originalRps, 0), ''],
        ['imgedge, hits on a warm variant (req/s)', fmt(variantRps, 0), `${ratio(variantRps, originalRps, 3)} of originals; ${ratio(variantRps, rawRate, 0)} raw sharp`],
      ],
    }],
    goals: [
      goal('cold variants ≥ 0.85× raw sharp\'s rate', Number.isFinite(edgeRate / rawRate) ? edgeRate >= 0.85 * rawRate : null, ratio(edgeRate, rawRate, 3)),
      goal('warm variants ≥ 0.8× the hit rate of a same-size original', Number.isFinite(variantRps / originalRps) ? variantRps >= 0.8 * originalRps : null,
        `${ratio(variantRps, originalRps, 3)}${errors ? ` (${errors} wrk errors)` : ''}`),
    ],
    notes: [
      'The goal is on new variants of a stored source (a srcset\'s widths); a new source adds its origin fetch and storing it, which raw sharp does not do.',
      'A warm variant is a hit like any other object: ipx, which makes every answer afresh, serves at about raw sharp\'s rate.',
    ],
  };
}
