// The soak's HTTP client. It never keeps a body: it hashes it as it arrives,
// and says precisely how the response ended, because a body cut short must be
// told from a whole one: "complete" means the parser saw the message end as
// framed (Content-Length reached, or the last chunk) and nothing broke.
import http from 'node:http';
import { createHash } from 'node:crypto';

export interface Fetched {
  /** null when no response head arrived (refused, reset, timed out). */
  readonly status: number | null;
  readonly headers: http.IncomingHttpHeaders;
  readonly bytes: number;
  readonly sha: string;
  readonly complete: boolean;
  readonly error: string | undefined;
  /** The client went away on purpose (quitAfter). */
  readonly quit: boolean;
  /** No end within the deadline: the request was abandoned (a hang). */
  readonly timedOut: boolean;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface FetchOptions {
  readonly method?: 'GET' | 'HEAD';
  readonly headers?: Record<string, string>;
  readonly agent: http.Agent;
  readonly deadlineMs: number;
  /** Go away after this many body bytes, as a browser leaving the page does. */
  readonly quitAfter?: number;
}

export function fetchHashed(port: number, path: string, options: FetchOptions): Promise<Fetched> {
  const startedAt = Date.now();
  const hash = createHash('sha256');
  let bytes = 0;
  let status: number | null = null;
  let headers: http.IncomingHttpHeaders = {};
  let timedOut = false;
  let quit = false;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (complete: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, headers, bytes, sha: hash.digest('hex'), complete, error, quit, timedOut, startedAt, endedAt: Date.now() });
    };
    const req = http.request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent },
      (res) => {
        status = res.statusCode ?? 0;
        headers = res.headers;
        res.on('data', (chunk: Buffer) => {
          const quitAfter = options.quitAfter;
          if (quitAfter !== undefined && bytes + chunk.length > quitAfter) {
            hash.update(chunk.subarray(0, quitAfter - bytes));
            bytes = quitAfter;
            quit = true;
            req.destroy();
            finish(false, 'quit');
            return;
          }
          hash.update(chunk);
          bytes += chunk.length;
        });
        res.on('end', () => finish(res.complete && !res.errored, res.errored?.message));
        res.on('error', (error) => finish(false, error.message));
        res.on('aborted', () => finish(false, 'aborted'));
        res.on('close', () => finish(res.complete && !res.errored && res.readableEnded, 'closed before the end'));
      },
    );
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error('deadline'));
      finish(false, 'deadline');
    }, options.deadlineMs);
    req.on('error', (error) => finish(false, (error as NodeJS.ErrnoException).code ?? error.message));
    req.end();
  });
}

/** A small JSON or text exchange with a fresh connection (admin calls, readiness). */
export function exchange(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}
