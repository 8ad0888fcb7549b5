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
  /** Writes out what is buffered; call before the process exits. */
  flush(): void;
}

export function createLog(level: LogLevel): ProcessLog {
  const destination = pino.destination({ fd: 1, sync: false, minLength: 4096 });
  const logger = pino({ level }, destination);
  const timer = setInterval(() => {
    try {
      destination.flush();
    } catch {
      // A write is under way: the next tick takes what is left.
    }
  }, 200);
  timer.unref();
  return {
    logger,
    line: (text) => destination.write(text),
    flush: () => {
      clearInterval(timer);
      try {
        destination.flushSync();
      } catch {
        // Nothing written yet (the stream is not ready): nothing to lose.
      }
    },
  };
}
