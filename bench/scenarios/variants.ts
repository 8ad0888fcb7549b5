// f. Image variants: a 2000×1500 JPEG → a 400 px WebP. Cold: each request a
// new variant of a new source, one at a time, against sharp called straight
// (the same operations, bench/image.ts) in its own process on the cache's
// core, in alternating rounds so that both see the same machine. Warm: wrk
// on a stored variant against wrk on an original of the same size, also
// alternating.
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

async function rawRound(count: number): Promise<number> {
  const proc = spawnPinned('sharp-raw', process.execPath, [RAW_SCRIPT, '--count', String(count), '--source', SOURCE, '--width', String(WIDTH)], {
    core: TARGET_CORE, capture: true,
  });
  const how = await proc.exited;
  const line = proc.stdout().trim().split('\n').pop();
  if (!line?.startsWith('{')) throw new Error(`sharp-raw gave nothing (${how})`);
  return (JSON.parse(line) as { ms: number }).ms;
}

/** `count` new variants in turn over one kept-alive connection; their total ms. */
async function edgeRound(target: Running, prefix: string, count: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const res = await timedGet(`${target.base}/img/${SOURCE}/${prefix}-${i}.jpg?w=${WIDTH}&format=webp`, { agent });
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
  const warm: { variant: WrkResult[]; original: WrkResult[] } = { variant: [], original: [] };
  let variantBytes = 0;
  let error: string | undefined;
  try {
    const target = await startTarget('imgedge', { originPort: ctx.origin.port, logLevel: 'warn' });
    try {
      // Unrecorded: the edge's first transforms pay for loading libvips.
      await edgeRound(target, `variants-${ctx.runId}-warm`, 3);
      for (let round = 0; round < rounds; round++) {
        ctx.log(`variants: round ${round + 1}/${rounds}: ${perRound} raw sharp, ${perRound} cold through imgedge`);
        rawMs += await rawRound(perRound);
        edgeMs += await edgeRound(target, `variants-${ctx.runId}-cold-${round}`, perRound);
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
  const mean = (results: WrkResult[]) => (results.length ? results.reduce((sum, r) => sum + rps(r), 0) / results.length : NaN);
  const variantRps = mean(warm.variant);
  const originalRps = mean(warm.original);
  const errors = [...warm.variant, ...warm.original].reduce((sum, r) => sum + r.errors + r.status, 0);
  return {
    title: 'f. Image variants',
    setup: [
      `Cold: ${count} requests for new ${WIDTH} px WebP variants of new ${SOURCE} JPEG sources (each source a miss too), one at a time over one ` +
        `kept-alive connection, in ${rounds} rounds alternating with ${perRound} transforms by sharp called straight (bench/sharp-raw.ts, the same ` +
        `operations, in its own process on core ${TARGET_CORE}, as imgedge). Warm: \`wrk\` on one stored variant (${variantBytes} bytes) and on an ` +
        `original of the same size, ${seconds} s each, twice, alternating. Ratios are of rates measured side by side.`,
      ...(error ? [`**Failed: ${error}**`] : []),
    ],
    tables: [{
      columns: ['what', 'rate', 'ratio'],
      rows: [
        ['raw sharp (transforms/s)', fmt(rawRate, 1), ''],
        ['imgedge, cold variants (variants/s)', fmt(edgeRate, 1), `${ratio(edgeRate, rawRate, 3)} of raw sharp`],
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
      'A cold variant through imgedge includes its source\'s origin fetch, storing the source and the variant; raw sharp only decodes, resizes and encodes.',
      'A warm variant is a hit like any other object: ipx, which makes every answer afresh, serves at about raw sharp\'s rate.',
    ],
  };
}
