// The synthetic origin: deterministic bytes of a size named in the path, so
// all three caches see the same plain URLs and the harness can check every
// byte a client got without storing anything. Run as its own process, pinned
// beside the load generator:
//   node dist/bench/origin.js --port N
// Object paths are /obj/<param>/.../<name>, the params being
//   s<bytes>   body size (required)
//   h<ms>      delay before the response head
//   b<ms>      spread the body over this long
// Images are /img/<W>x<H>/<name>: the JPEG of bench/image.ts at that size,
// whatever the name (made once per size).
// It counts requests per path at /__count?path=..., and /__ping answers 200
// uncacheably (a readiness probe that passes through every cache).
import http from 'node:http';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { benchJpeg } from './image.js';

export interface ObjectSpec {
  readonly name: string;
  readonly size: number;
  readonly headMs?: number;
  readonly bodyMs?: number;
}

export function objectPath(spec: ObjectSpec): string {
  const params = [`s${spec.size}`];
  if (spec.headMs) params.push(`h${spec.headMs}`);
  if (spec.bodyMs) params.push(`b${spec.bodyMs}`);
  return `/obj/${params.join('/')}/${encodeURIComponent(spec.name)}`;
}

export function parseObjectPath(pathname: string): ObjectSpec | null {
  const parts = pathname.split('/');
  if (parts[1] !== 'obj' || parts.length < 4) return null;
  const name = decodeURIComponent(parts[parts.length - 1]!);
  let size: number | undefined;
  let headMs = 0;
  let bodyMs = 0;
  for (const param of parts.slice(2, -1)) {
    const match = /^([shb])(\d{1,12})$/.exec(param);
    if (!match) return null;
    const value = Number(match[2]);
    if (match[1] === 's') size = value;
    else if (match[1] === 'h') headMs = value;
    else bodyMs = value;
  }
  return size === undefined || name === '' ? null : { name, size, headMs, bodyMs };
}

// 64 KiB of xorshift noise, twice over, so that any rotation of it is one
// contiguous copy (fast enough to serve 256 MiB). Chunk k of an object is a
// rotation picked by the name's seed and k, stamped with both, so a cache
// that served the wrong offset or the wrong object gets a different digest.
const CHUNK = 64 * 1024;
const NOISE = (() => {
  const block = Buffer.allocUnsafe(CHUNK);
  let x = 0x9e3779b9;
  for (let i = 0; i < CHUNK; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  return Buffer.concat([block, block]);
})();

function seedOf(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32LE(0);
}

function chunkAt(seed: number, k: number, length: number): Buffer {
  const rotation = (seed + Math.imul(k, 40503)) & (CHUNK - 1);
  const chunk = Buffer.allocUnsafe(length);
  NOISE.copy(chunk, 0, rotation, rotation + length);
  const stamp = Buffer.alloc(16);
  stamp.writeUInt32LE(seed, 0);
  stamp.writeUInt32LE(k, 4);
  stamp.write('imgedge!', 8, 'latin1');
  stamp.copy(chunk, 0, 0, Math.min(16, length));
  return chunk;
}

/** The object's body, 64 KiB at a time. */
export function* objectChunks(name: string, size: number): Generator<Buffer> {
  const seed = seedOf(name);
  for (let k = 0, at = 0; at < size; k++, at += CHUNK) yield chunkAt(seed, k, Math.min(CHUNK, size - at));
}

export function objectBody(name: string, size: number): Buffer {
  return Buffer.concat([...objectChunks(name, size)], size);
}

export function objectDigest(name: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of objectChunks(name, size)) hash.update(chunk);
  return hash.digest('hex');
}

export function etagOf(spec: ObjectSpec): string {
  return `"${createHash('sha256').update(`${spec.name}\0${spec.size}`).digest('hex').slice(0, 20)}"`;
}

const LAST_MODIFIED = new Date(Date.UTC(2024, 0, 1)).toUTCString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Backpressure: resolves on 'drain', or on 'close' when the client went away. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function serveObject(req: http.IncomingMessage, res: http.ServerResponse, spec: ObjectSpec): Promise<void> {
  if (spec.headMs) await sleep(spec.headMs);
  const etag = etagOf(spec);
  const headers = {
    'content-type': 'application/octet-stream',
    'cache-control': 'public, max-age=3600',
    etag,
    'last-modified': LAST_MODIFIED,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(spec.size) });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const chunks = Math.max(1, Math.ceil(spec.size / CHUNK));
  const started = Date.now();
  let k = 0;
  for (const chunk of objectChunks(spec.name, spec.size)) {
    if (res.destroyed) return;
    // Chunk k leaves at k/(n-1) of the spread: the first with the head, the last at its end.
    if (spec.bodyMs && chunks > 1) {
      const due = started + (spec.bodyMs * k) / (chunks - 1);
      if (due > Date.now()) await sleep(due - Date.now());
    }
    if (!res.write(chunk)) await drained(res);
    k++;
  }
  res.end();
}

const images = new Map<string, Promise<Buffer>>();

async function serveImage(res: http.ServerResponse, size: string): Promise<void> {
  const [w, h] = size.split('x').map(Number) as [number, number];
  let image = images.get(size);
  if (!image) images.set(size, (image = benchJpeg(w, h)));
  const body = await image;
  res.writeHead(200, {
    'content-type': 'image/jpeg',
    'cache-control': 'public, max-age=3600',
    etag: `"img-${size}"`,
    'last-modified': LAST_MODIFIED,
    'content-length': String(body.length),
  });
  res.end(body);
}

export function createOriginServer(): http.Server {
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/__ping') {
      res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url.pathname === '/__count') {
      const count = counts.get(url.searchParams.get('path') ?? '') ?? 0;
      res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'application/json' }).end(JSON.stringify({ count }));
      return;
    }
    const image = /^\/img\/(\d{1,4}x\d{1,4})\/[^/]+$/.exec(url.pathname);
    if (image && req.method === 'GET') {
      counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
      serveImage(res, image[1]!).catch(() => res.destroy());
      return;
    }
    const spec = parseObjectPath(url.pathname);
    if (!spec || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    serveObject(req, res, spec).catch(() => res.destroy());
  });
  // Longer than any cache's idle pool, so no fetch races a closing socket.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  return server;
}

function main(argv: readonly string[]): void {
  const at = argv.indexOf('--port');
  const port = at === -1 ? 0 : Number(argv[at + 1]);
  const server = createOriginServer();
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
