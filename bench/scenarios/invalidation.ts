// g. Invalidation and uploads: `imgedge origin` with its file change log, an
// edge following it. Latency is from the origin acknowledging a PUT (its 204
// arriving at the uploader) to the edge serving the new bytes, over a series
// of overwrites of an image the edge holds fresh for an hour, so nothing but
// the log can make it change. Then uploads per second of 200 KiB images
// against a plain file copy (write, fsync, rename) in the same run.
// imgedge only: nginx and Varnish follow no log (each needs a purge call).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort, spawnPinned, tempDir, waitFor, type Proc } from '../proc.js';
import { getText, percentile } from '../client.js';
import { LOAD_CORE, startTarget } from '../targets.js';
import { fmt, goal, ratio, type ScenarioReport } from '../report.js';
import { errorText, sleep, type Context } from './context.js';

const BIN = fileURLToPath(new URL('../../../bin/imgedge.js', import.meta.url));
export const TOKEN = 'bench-upload-token';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const UPLOAD_BYTES = 200 * 1024;
export const UPLOADERS = 8;

/** Bytes the origin takes for a PNG (it checks the signature), different every time. */
export const image = (bytes: number) => Buffer.concat([PNG_SIGNATURE, randomBytes(bytes - PNG_SIGNATURE.length)]);

async function startImgedgeOrigin(root: string): Promise<{ proc: Proc; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawnPinned('imgedge origin', process.execPath, [
    BIN, 'origin', '--listen', `127.0.0.1:${port}`, '--root', root, '--upload-token', TOKEN, '--log-level', 'warn',
  ], { core: LOAD_CORE, logFile: path.join(root, '..', 'origin.log') });
  const up = await waitFor(async () => ((await getText(`${base}/.imgedge/changes?from=1`)).status === 200 ? true : null), 15_000);
  if (!up) throw new Error('imgedge origin did not start');
  return { proc, base };
}

export async function put(pool: Pool, target: string, body: Buffer): Promise<string> {
  const { statusCode, headers, body: answer } = await pool.request({
    method: 'PUT', path: target, body, headers: { authorization: `Bearer ${TOKEN}`, 'content-length': String(body.length) },
  });
  await answer.dump();
  if (statusCode !== 201 && statusCode !== 204) throw new Error(`PUT ${target} answered ${statusCode}`);
  return String(headers.etag);
}

export async function etagAtEdge(edge: Pool, target: string): Promise<string | undefined> {
  const { headers, body } = await edge.request({ method: 'GET', path: target });
  await body.dump();
  return headers.etag as string | undefined;
}

/** Milliseconds from each PUT's answer to the edge serving its ETag. */
async function measureLatency(ctx: Context, origin: Pool, edge: Pool, overwrites: number): Promise<number[]> {
  const target = `/inv-${ctx.runId}/photo.png`;
  let etag = await put(origin, target, image(8 * 1024));
  const first = await waitFor(async () => ((await etagAtEdge(edge, target)) === etag ? true : null), 10_000, 5);
  if (!first) throw new Error('the edge never served the first upload');
  const latencies: number[] = [];
  for (let i = 0; i < overwrites; i++) {
    etag = await put(origin, target, image(8 * 1024));
    const acked = performance.now();
    for (;;) {
      if ((await etagAtEdge(edge, target)) === etag) break;
      if (performance.now() - acked > 10_000) throw new Error(`overwrite ${i}: the edge still served the old bytes after 10 s`);
      await sleep(1);
    }
    latencies.push(performance.now() - acked);
    // Uploads a little apart, as people make them: each one measured on its own.
    await sleep(5);
  }
  return latencies;
}

/** Uploads per second with UPLOADERS in flight; the same for a plain durable copy into a directory. */
async function measureUploads(ctx: Context, origin: Pool, count: number, copyDir: string): Promise<{ uploads: number; copies: number }> {
  const bodies = Array.from({ length: 16 }, () => image(UPLOAD_BYTES));
  const run = async (one: (i: number) => Promise<void>) => {
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: UPLOADERS }, async () => {
      while (next < count) await one(next++);
    }));
    return count / ((performance.now() - started) / 1000);
  };
  const uploads = await run(async (i) => void (await put(origin, `/up-${ctx.runId}/${i % 500}.png`, bodies[i % bodies.length]!)));
  fs.mkdirSync(copyDir, { recursive: true });
  const dirHandle = await fsp.open(copyDir, 'r');
  try {
    const copies = await run(async (i) => {
      const temp = path.join(copyDir, `.${i}.tmp`);
      const handle = await fsp.open(temp, 'w');
      try {
        await handle.writeFile(bodies[i % bodies.length]!);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temp, path.join(copyDir, `${i % 500}.png`));
      await dirHandle.sync();
    });
    return { uploads, copies };
  } finally {
    await dirHandle.close();
  }
}

export async function runInvalidation(ctx: Context): Promise<ScenarioReport> {
  const overwrites = ctx.quick ? 50 : 200;
  const uploads = ctx.quick ? 200 : 1000;
  const title = 'g. Invalidation through the change log, and uploads';
  if (!ctx.targets.includes('imgedge')) {
    return { title, setup: ['imgedge not among the targets: not run.'], tables: [], goals: [], notes: [] };
  }
  const dir = tempDir('invalidation');
  let origin: { proc: Proc; base: string } | null = null;
  let edge: Awaited<ReturnType<typeof startTarget>> | null = null;
  try {
    origin = await startImgedgeOrigin(path.join(dir, 'root'));
    edge = await startTarget('imgedge', { originPort: Number(new URL(origin.base).port) });
    const originPool = new Pool(origin.base, { connections: UPLOADERS });
    const edgePool = new Pool(edge.base, { connections: 1 });
    try {
      ctx.log(`invalidation: ${overwrites} overwrites, each timed from the origin's answer to the edge serving it`);
      const latencies = await measureLatency(ctx, originPool, edgePool, overwrites);
      ctx.log(`invalidation: ${uploads} uploads of 200 KiB, ${UPLOADERS} in flight, against a plain durable copy`);
      const rates = await measureUploads(ctx, originPool, uploads, path.join(dir, 'copies'));
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      return {
        title,
        setup: [
          `\`imgedge origin\` (file change log, core 1, with the harness) and an edge following it (core 0). An image is overwritten ${overwrites} times, ` +
            "5 ms apart; after each PUT's answer the harness asks the edge (one keep-alive connection, every 1 ms) until it serves the new ETag. " +
            'The origin sends `max-age=3600`: only the log can make the edge change.',
          `Uploads: ${uploads} PUTs of 200 KiB (distinct random bytes behind a PNG signature), ${UPLOADERS} in flight, to 500 paths; ` +
            'the baseline is the harness writing the same bodies itself the way the origin must: temp file, fsync, rename, directory fsync.',
        ],
        tables: [{
          columns: ['measure', 'p50', 'p99', 'max', 'rate'],
          rows: [
            ['PUT answered → edge serves the new bytes (ms)', fmt(p50, 1), fmt(p99, 1), fmt(Math.max(...latencies), 1), ''],
            ['uploads of 200 KiB through `imgedge origin`', '', '', '', `${fmt(rates.uploads, 0)}/s`],
            ['plain durable copy of the same bodies', '', '', '', `${fmt(rates.copies, 0)}/s`],
            ['uploads ÷ copies', '', '', '', ratio(rates.uploads, rates.copies)],
          ],
        }],
        goals: [
          goal('invalidation p50 ≤ 20 ms', p50 <= 20, `${fmt(p50, 1)} ms over ${latencies.length} overwrites`),
          goal('invalidation p99 ≤ 150 ms', p99 <= 150, `${fmt(p99, 1)} ms`),
        ],
        notes: [
          'Cloudflare and Fastly advertise about 150 ms at p50 for a global purge, which still needs the purge call; here the upload itself is the only call.',
          'An upload costs two fsyncs more than the copy: the log entry (shared by uploads that commit together) and the pending directory.',
        ],
      };
    } finally {
      await originPool.close();
      await edgePool.close();
    }
  } catch (error) {
    return { title, setup: [`not run: ${errorText(error)}`], tables: [], goals: [], notes: [] };
  } finally {
    await edge?.stop();
    await origin?.proc.stop();
  }
}
