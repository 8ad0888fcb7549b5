// The cache on its own, for the test/cache/cache-*.test.ts files: a real
// store and index in a temp dir, a clock the test moves by hand, and an
// origin that is a real HTTP server on 127.0.0.1 reached through the edge's
// own client, or (where a test is about a fetcher that is not HTTP) a fetcher
// of the test's own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Store } from '../../src/cache/store.js';
import { CacheIndex, type IndexEvents } from '../../src/cache/index.js';
import { Cache, type Answer, type CacheEvents, type Lookup, type OriginResult } from '../../src/cache/cache.js';
import { BodyWriter } from '../../src/cache/body-writer.js';
import { OriginClient, type OriginFetcher, type OriginResponse } from '../../src/origin-client.js';
import type { HeaderMap } from '../../src/http/headers.js';
import { TestOrigin } from './origin.js';
import { written } from './body-sink.js';

export type T = { after(fn: () => unknown): void };

/** A store and index in a temp dir, closed and removed after the test (in that order). */
export async function storage(t: T, maxBytes = 1 << 30, events: IndexEvents = {}): Promise<{ dir: string; store: Store; index: CacheIndex }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-cache-'));
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, maxBytes, events);
  t.after(async () => {
    await index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, index };
}

/** A clock the test moves by hand. */
export class Clock {
  constructor(public ms = Date.parse('2026-06-01T00:00:00Z')) {}
  readonly now = () => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface Harness {
  cache: Cache;
  index: CacheIndex;
  store: Store;
  clock: Clock;
  results: OriginResult[];
  served: string[];
  /** How many times a request joined a fetch under way. */
  joins: { count: number };
}

/** A cache over fresh storage, on a clock of its own, recording each origin fetch's result, each stale answer's reason and the joins. */
export async function harness(
  t: T,
  fetcher: OriginFetcher,
  options: { maxObjectBytes?: number; memoryBytes?: number; staleIfErrorSec?: number; defaultTtlSec?: number } = {},
): Promise<Harness> {
  const { store, index } = await storage(t);
  const clock = new Clock();
  const results: OriginResult[] = [];
  const served: string[] = [];
  const joins = { count: 0 };
  const events: CacheEvents = {
    originFinished: (result) => results.push(result),
    staleServed: (reason) => served.push(reason),
    coalesced: () => joins.count++,
  };
  const cache = new Cache(
    store,
    index,
    fetcher,
    {
      rules: { defaultTtlSec: options.defaultTtlSec ?? 0, negativeTtlSec: 0, staleIfErrorSec: options.staleIfErrorSec ?? 0 },
      maxObjectBytes: options.maxObjectBytes ?? 1 << 20,
      memoryBytes: options.memoryBytes ?? 0,
      now: clock.now,
    },
    events,
  );
  return { cache, index, store, clock, results, served, joins };
}

/** An HTTP origin on 127.0.0.1, reached through the edge's origin client. */
export async function httpOrigin(t: T): Promise<{ origin: TestOrigin; client: OriginClient }> {
  const origin = await TestOrigin.start();
  const client = new OriginClient({ origin: new URL(origin.url), timeoutMs: 10_000, maxConnections: 8, userAgent: 'test' });
  t.after(async () => {
    await client.close();
    await origin.stop();
  });
  return { origin, client };
}

export function lookup(key: string, request: HeaderMap = {}): Lookup {
  return { key, target: key, headers: {}, request };
}

/** Everything a client would get of an answer's body, and the reason it was cut short, if it was. */
export async function read(answer: Answer): Promise<{ bytes: Buffer; cut: Error | null }> {
  const body = answer.body();
  if (Buffer.isBuffer(body)) return { bytes: body, cut: null };
  if (body instanceof BodyWriter) {
    const { chunks, cut } = await written(body);
    return { bytes: Buffer.concat(chunks), cut };
  }
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks), cut: null };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), cut: error as Error };
  }
}

/** A fetcher that is not HTTP: it answers what the test says (given the request headers), body and all, counting calls. */
export class PlainFetcher implements OriginFetcher {
  calls = 0;
  constructor(private readonly answer: (headers: HeaderMap) => OriginResponse) {}
  async fetch(_target: string, headers: HeaderMap): Promise<OriginResponse> {
    this.calls++;
    return this.answer(headers);
  }
}

/** A body the test writes: each chunk when it says, ended when it says (or never). */
export function heldBody(...chunks: Buffer[]): Readable {
  const body = new Readable({ read() {} });
  for (const chunk of chunks) body.push(chunk);
  return body;
}

/** Resolves with the promise's value, or with 'timed out' after 5 s (a test fails rather than hangs). */
export async function within<T>(promise: Promise<T>): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise, new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), 5000)))]);
  clearTimeout(timer);
  return result;
}
