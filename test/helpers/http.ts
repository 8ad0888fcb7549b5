// A plain HTTP client for tests that tells a complete body from an aborted
// one: a response cut short must never pass for a whole one.
import http from 'node:http';
import { createHash } from 'node:crypto';

export interface Got {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body ended normally (not aborted, not reset). */
  readonly complete: boolean;
  readonly error?: string;
  /** Milliseconds from sending to the response head, and to the first body byte. */
  readonly headMs: number;
  readonly firstByteMs: number | undefined;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  /** Destroy the request after this many body bytes (a client that goes away). */
  abortAfterBytes?: number;
  /** Called with the response head, and with each body chunk as it arrives. */
  onHead?: (res: http.IncomingMessage) => void;
  onData?: (chunk: Buffer, received: number) => void;
}

export function request(base: string, path: string, options: RequestOptions = {}): Promise<Got> {
  const url = new URL(base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        timeout: options.timeoutMs ?? 20_000,
      },
      (res) => {
        const headMs = performance.now() - started;
        options.onHead?.(res);
        let firstByteMs: number | undefined;
        const chunks: Buffer[] = [];
        let received = 0;
        let settled = false;
        const finish = (complete: boolean, error?: string) => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete, error, headMs, firstByteMs });
        };
        res.on('data', (chunk: Buffer) => {
          firstByteMs ??= performance.now() - started;
          chunks.push(chunk);
          received += chunk.length;
          options.onData?.(chunk, received);
          if (options.abortAfterBytes !== undefined && received >= options.abortAfterBytes) {
            req.destroy();
            finish(false, 'aborted by the test');
          }
        });
        res.on('end', () => finish(!res.errored, res.errored?.message));
        res.on('error', (error) => finish(false, error.message));
        res.on('aborted', () => finish(false, 'aborted'));
        res.on('close', () => finish(res.complete && !res.errored, res.complete ? undefined : 'closed before the end'));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

export const get = (base: string, path: string, options: RequestOptions = {}) => request(base, path, options);

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes: the same (size, seed) gives the same body. */
export function bytes(size: number, seed = 'x'): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at, 0, Math.min(block.length, size - at));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}
