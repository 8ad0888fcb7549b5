// h. Running at scale: the change log on a Redis stream, the origin on a
// bucket. Invalidation latency is from an XADD at the Redis primary (the
// harness writing the new bytes into the origin's root, then appending the
// entry as any upload service would) to an edge serving the new bytes, for
// an edge following the primary, then one following a replica. Then
// uploads per second of 200 KiB images through one and two `imgedge origin`
// replicas on one bucket (s3rver) and one stream, against one origin on a
// directory with its file log. imgedge only.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { Redis } from 'ioredis';
import S3rver from 's3rver';
import { freePort, hasCommand, spawnPinned, tempDir, waitFor, type Proc } from '../proc.js';
import { getText, percentile } from '../client.js';
import { LOAD_CORE, startTarget } from '../targets.js';
import { fmt, goal, ratio, type ScenarioReport } from '../report.js';
import { errorText, sleep, type Context } from './context.js';
import { image, put, TOKEN, UPLOADERS } from './invalidation.js';

const BIN = fileURLToPath(new URL('../../../bin/imgedge.js', import.meta.url));
const STREAM = 'imgedge:changes';
const BUCKET = 'bench';

async function startRedis(dir: string, replicaOf?: number): Promise<{ proc: Proc; port: number; client: Redis }> {
  const port = await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const proc = spawnPinned(replicaOf ? 'redis replica' : 'redis primary', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
    ...(replicaOf ? ['--replicaof', '127.0.0.1', String(replicaOf)] : []),
  ], { core: LOAD_CORE, logFile: path.join(dir, 'redis.log') });
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  client.on('error', () => {});
  const up = await waitFor(async () => {
    if (client.status !== 'ready') await client.connect();
    if (!replicaOf) return (await client.ping()) === 'PONG' ? true : null;
    return /master_link_status:up/.test(await client.info('replication')) ? true : null;
  }, 15_000);
  if (!up) throw new Error('redis-server did not start');
  return { proc, port, client };
}

async function startOrigin(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: Proc; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  fs.mkdirSync(dir, { recursive: true });
  const proc = spawnPinned('imgedge origin', process.execPath, [
    BIN, 'origin', '--listen', `127.0.0.1:${port}`, '--upload-token', TOKEN, '--log-level', 'warn', ...args,
  ], { core: LOAD_CORE, logFile: path.join(dir, 'origin.log'), env: { ...process.env, ...env } });
  // Any answer means it listens (a bucket origin answers 404 for the log).
  const up = await waitFor(async () => ((await getText(`${base}/.imgedge/changes?from=1`)).status > 0 ? true : null), 15_000);
  if (!up) throw new Error('imgedge origin did not start');
  return { proc, base };
}

async function bodyAtEdge(edge: Pool, target: string): Promise<Buffer> {
  const { body } = await edge.request({ method: 'GET', path: target });
  return Buffer.from(await body.arrayBuffer());
}

/** Milliseconds from each XADD's reply to the edge serving the new bytes. */
async function measureLatency(ctx: Context, root: string, redis: Redis, edge: Pool, label: string, changes: number): Promise<number[]> {
  const name = `inv-${ctx.runId}-${label}.png`;
  const file = path.join(root, name);
  const write = async (body: Buffer) => {
    const temp = `${file}.tmp`;
    await fsp.writeFile(temp, body);
    await fsp.rename(temp, file);
  };
  let body = image(8 * 1024);
  await write(body);
  if (!(await waitFor(async () => ((await bodyAtEdge(edge, `/${name}`)).equals(body) ? true : null), 10_000, 5))) throw new Error('the edge never served the first image');
  const latencies: number[] = [];
  for (let i = 0; i < changes; i++) {
    body = image(8 * 1024);
    await write(body);
    await redis.xadd(STREAM, '*', 'op', 'put', 'path', `/${name}`);
    const added = performance.now();
    for (;;) {
      if ((await bodyAtEdge(edge, `/${name}`)).equals(body)) break;
      if (performance.now() - added > 10_000) throw new Error(`change ${i}: the edge still served the old bytes after 10 s`);
      await sleep(1);
    }
    latencies.push(performance.now() - added);
    await sleep(5);
  }
  return latencies;
}

/** Uploads per second with UPLOADERS in flight, spread over the origins given. */
async function uploadRate(ctx: Context, origins: Pool[], count: number, label: string): Promise<number> {
  const bodies = Array.from({ length: 16 }, () => image(200 * 1024));
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: UPLOADERS }, async () => {
    while (next < count) {
      const i = next++;
      await put(origins[i % origins.length]!, `/up-${ctx.runId}-${label}/${i % 500}.png`, bodies[i % bodies.length]!);
    }
  }));
  return count / ((performance.now() - started) / 1000);
}

export async function runScale(ctx: Context): Promise<ScenarioReport> {
  const changes = ctx.quick ? 50 : 200;
  const uploads = ctx.quick ? 200 : 1000;
  const title = 'h. Running at scale: the change log on Redis, the origin on a bucket';
  const notRun = (why: string): ScenarioReport => ({ title, setup: [`not run: ${why}`], tables: [], goals: [], notes: [] });
  if (!ctx.targets.includes('imgedge')) return notRun('imgedge not among the targets');
  if (!hasCommand('redis-server')) return notRun('redis-server is not installed (apt-get install -y redis-server)');
  const dir = tempDir('scale');
  const procs: Proc[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const pools: Pool[] = [];
  try {
    const primary = await startRedis(path.join(dir, 'redis-primary'));
    procs.push(primary.proc);
    stops.push(async () => primary.client.disconnect());
    const replica = await startRedis(path.join(dir, 'redis-replica'), primary.port);
    procs.push(replica.proc);
    stops.push(async () => replica.client.disconnect());
    const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(dir, 's3'), configureBuckets: [{ name: BUCKET }] });
    const s3Port = ((await s3.run()) as { port: number }).port;
    stops.push(() => s3.close());
    const primaryUrl = `redis://127.0.0.1:${primary.port}`;

    // Latency: a directory origin whose files the harness replaces itself, announcing each with an XADD.
    const root = path.join(dir, 'dir-origin', 'root');
    const dirOrigin = await startOrigin(path.join(dir, 'dir-origin'), ['--root', root, '--changelog', primaryUrl]);
    procs.push(dirOrigin.proc);
    const originPort = Number(new URL(dirOrigin.base).port);
    const onPrimary = await startTarget('imgedge', { originPort, args: ['--changelog', primaryUrl] });
    stops.push(() => onPrimary.stop());
    const onReplica = await startTarget('imgedge', { originPort, args: ['--changelog', `redis://127.0.0.1:${replica.port}`] });
    stops.push(() => onReplica.stop());
    const edgePools = [new Pool(onPrimary.base, { connections: 1 }), new Pool(onReplica.base, { connections: 1 })];
    pools.push(...edgePools);
    ctx.log(`scale: ${changes} changes, each timed from its XADD to the edge on the primary serving it; then as many to the edge on a replica`);
    const fromPrimary = await measureLatency(ctx, root, primary.client, edgePools[0]!, 'primary', changes);
    const fromReplica = await measureLatency(ctx, root, primary.client, edgePools[1]!, 'replica', changes);

    // Uploads: one and two origins on the bucket and the stream; one on a directory with its file log.
    const bucketArgs = ['--root', `s3://${BUCKET}/images`, '--s3-endpoint', `http://127.0.0.1:${s3Port}`, '--changelog', primaryUrl];
    const credentials = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
    const bucketA = await startOrigin(path.join(dir, 'bucket-a'), bucketArgs, credentials);
    const bucketB = await startOrigin(path.join(dir, 'bucket-b'), bucketArgs, credentials);
    const fileOrigin = await startOrigin(path.join(dir, 'file-origin'), ['--root', path.join(dir, 'file-origin', 'root')]);
    procs.push(bucketA.proc, bucketB.proc, fileOrigin.proc);
    const [poolA, poolB, poolFile] = [bucketA, bucketB, fileOrigin].map((o) => new Pool(o.base, { connections: UPLOADERS })) as [Pool, Pool, Pool];
    pools.push(poolA, poolB, poolFile);
    ctx.log(`scale: ${uploads} uploads of 200 KiB, ${UPLOADERS} in flight, through one and two origins on the bucket and one on a directory`);
    const oneBucket = await uploadRate(ctx, [poolA], uploads, 'one');
    const twoBuckets = await uploadRate(ctx, [poolA, poolB], uploads, 'two');
    const directory = await uploadRate(ctx, [poolFile], uploads, 'dir');

    const row = (label: string, values: number[]) => [label, fmt(percentile(values, 50), 1), fmt(percentile(values, 99), 1), fmt(Math.max(...values), 1), ''];
    return {
      title,
      setup: [
        'A Redis primary and a replica of it (redis-server, `--replicaof`, core 1), an edge following each (`--changelog redis://…`, core 0) in front of one ' +
          "`imgedge origin` on a directory. The harness replaces an 8 KiB image in the origin's directory, then `XADD imgedge:changes * op put path …` at the primary, " +
          `and asks one edge (one keep-alive connection, every 1 ms) until it serves the new bytes; ${changes} changes, 5 ms apart, timed at the edge on the primary, then as many at the edge on the replica (both follow every change). ` +
          'The origin sends `max-age=3600`: only the stream can make the edges change.',
        `Uploads: ${uploads} PUTs of 200 KiB, ${UPLOADERS} in flight, through one \`imgedge origin\` on a bucket (s3rver, in the harness's process on core 1) ` +
          'with the Redis log, through two such origins taking turns, and through one on a directory with its file log.',
      ],
      tables: [{
        columns: ['measure', 'p50', 'p99', 'max', 'rate'],
        rows: [
          row('XADD at the primary → edge on the primary serves the new bytes (ms)', fromPrimary),
          row('XADD at the primary → edge on a replica serves the new bytes (ms)', fromReplica),
          ['uploads of 200 KiB, one origin on the bucket', '', '', '', `${fmt(oneBucket, 0)}/s`],
          ['uploads of 200 KiB, two origins on the bucket', '', '', '', `${fmt(twoBuckets, 0)}/s`],
          ['uploads of 200 KiB, one origin on a directory (file log)', '', '', '', `${fmt(directory, 0)}/s`],
          ['one on the bucket ÷ directory', '', '', '', ratio(oneBucket, directory)],
          ['two on the bucket ÷ one', '', '', '', ratio(twoBuckets, oneBucket)],
        ],
      }],
      goals: [
        goal('edge on the primary: p50 ≤ 20 ms', percentile(fromPrimary, 50) <= 20, `${fmt(percentile(fromPrimary, 50), 1)} ms`),
        goal('edge on the primary: p99 ≤ 150 ms', percentile(fromPrimary, 99) <= 150, `${fmt(percentile(fromPrimary, 99), 1)} ms`),
        goal('edge on a replica: p50 ≤ 20 ms', percentile(fromReplica, 50) <= 20, `${fmt(percentile(fromReplica, 50), 1)} ms`),
        goal('edge on a replica: p99 ≤ 150 ms', percentile(fromReplica, 99) <= 150, `${fmt(percentile(fromReplica, 99), 1)} ms`),
      ],
      notes: [
        's3rver writes each object to local disk from JavaScript, in the harness process: the bucket rates say what the origin costs against it here, not what MinIO or S3 would take.',
        'Two origins on one core with the store and the harness share that core: their rate shows they do not serialise on each other, not a doubling.',
      ],
    };
  } catch (error) {
    return notRun(errorText(error));
  } finally {
    for (const pool of pools) await pool.close().catch(() => {});
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for (const proc of procs.reverse()) await proc.stop();
  }
}
