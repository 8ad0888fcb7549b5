// The process's logger: pino writing JSON lines to stdout through a buffer,
// so the access log does not cost a write(2) per request. The buffer goes out
// when it holds 4 KiB, every 200 ms, and on a clean stop; a crash may lose
// the last 200 ms of lines.
import pino from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import type { LogLevel } from './config.js';

export interface ProcessLog {
  readonly logger: FastifyBaseLogger;
  /** Writes one finished line (JSON and newline) to the same buffer. */
  line(text: string): void;
  /** Writes out what is buffered, within FLUSH_BOUND_MS whatever the reader of stdout does. */
  flush(): Promise<void>;
}

const FLUSH_BOUND_MS = 2000;

export function createLog(level: LogLevel): ProcessLog {
  const destination = pino.destination({ fd: 1, sync: false, minLength: 4096 });
  // A reader of stdout that went away (EPIPE) costs the log, never the edge:
  // lines are dropped from then on instead of piling up or being retried.
  let readerGone = false;
  destination.on('error', () => {
    readerGone = true;
  });
  const write = (text: string): boolean => {
    if (!readerGone) destination.write(text);
    return true;
  };
  const logger = pino({ level }, { write });
  const timer = setInterval(() => {
    if (readerGone) return;
    try {
      destination.flush();
    } catch {
      // A write is under way: the next tick takes what is left.
    }
  }, 200);
  timer.unref();
  return {
    logger,
    line: write,
    // Not flushSync: it retries a write that fails with EPIPE forever.
    flush: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        if (readerGone) return resolve();
        const bound = setTimeout(resolve, FLUSH_BOUND_MS);
        try {
          destination.flush(() => {
            clearTimeout(bound);
            resolve();
          });
        } catch {
          clearTimeout(bound);
          resolve();
        }
      }),
  };
}
