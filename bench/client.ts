// The harness's own HTTP client (node:http): one timed GET that notes when the
// head, the first body byte and the end arrived, and checks the bytes against
// what the origin must have sent. It never throws: a failure is a result.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export interface Timed {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Milliseconds from the request to the first body byte (NaN without a body). */
  readonly firstByteMs: number;
  readonly totalMs: number;
  readonly bytes: number;
  readonly sha256: string | undefined;
  /** Whether every byte equalled `expect` at its offset (and the length too). */
  readonly matches: boolean | undefined;
  readonly error: string | undefined;
}

export interface GetOptions {
  readonly agent?: http.Agent;
  /** The bytes the body must be, compared as they arrive. */
  readonly expect?: Buffer;
  /** Hash the body (for objects too large to keep a copy of). */
  readonly hash?: boolean;
  readonly timeoutMs?: number;
}

export function timedGet(url: string, options: GetOptions = {}): Promise<Timed> {
  const started = performance.now();
  return new Promise((resolve) => {
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    let firstByteMs = Number.NaN;
    let bytes = 0;
    let matches: boolean | undefined = options.expect ? true : undefined;
    const hash = options.hash ? createHash('sha256') : null;
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      if (options.expect && bytes !== options.expect.length) matches = false;
      resolve({
        status, headers, firstByteMs, totalMs: performance.now() - started, bytes,
        sha256: hash?.digest('hex'), matches, error,
      });
    };
    const req = http.get(url, { agent: options.agent ?? false, timeout: options.timeoutMs ?? 60_000 }, (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) firstByteMs = performance.now() - started;
        const expect = options.expect;
        if (expect && matches) {
          matches = bytes + chunk.length <= expect.length && expect.compare(chunk, 0, chunk.length, bytes, bytes + chunk.length) === 0;
        }
        hash?.update(chunk);
        bytes += chunk.length;
      });
      res.once('end', () => finish());
      res.once('error', (error) => finish(error.message));
      // A response cut short emits 'aborted'/'close' without 'end'.
      res.once('close', () => finish(res.complete ? undefined : 'response cut short'));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', (error) => finish(error.message));
  });
}

/** A small GET for probes and counters; rejects on any failure. */
export function getText(url: string, timeoutMs = 5_000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
