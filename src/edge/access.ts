// One access-log line and one set of metric samples per public request,
// written when the response closes: complete, failed or cut off by the
// client alike. Bytes are those written to the socket, head included.
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Metrics } from '../metrics.js';
import { statusClass } from '../metrics.js';
import { redactTarget } from './redact.js';

const processTag = randomBytes(3).toString('hex');
let sequence = 0;

/** The client's X-Request-Id when it is a sane token, else one of ours. */
export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given)) return given;
  return `${processTag}-${(++sequence).toString(36)}`;
}

interface Samples {
  readonly requests: { inc(): void };
  readonly bytes: { inc(value: number): void };
  readonly duration: { observe(value: number): void };
}

export function registerAccessLog(app: FastifyInstance, metrics: Metrics): void {
  // Label sets are few: their children are looked up once, not hashed per request.
  const children = new Map<string, Samples>();
  const samplesFor = (label: string, status: number): Samples => {
    const id = `${label} ${status}`;
    let samples = children.get(id);
    if (!samples) {
      samples = {
        requests: metrics.requests.labels({ cache_status: label, status_class: statusClass(status) }),
        bytes: metrics.responseBytes.labels({ cache_status: label }),
        duration: metrics.requestDuration.labels({ cache_status: label }),
      };
      children.set(id, samples);
    }
    return samples;
  };
  app.addHook('onRequest', (request, reply, done) => {
    const socket: Socket = request.raw.socket;
    const bytesBefore = socket.bytesWritten;
    reply.raw.once('close', () => {
      const label = request.cacheLabel ?? 'none';
      const status = reply.raw.statusCode;
      const complete = reply.raw.writableFinished;
      const bytes = socket.bytesWritten - bytesBefore;
      const seconds = reply.elapsedTime / 1000;
      const samples = samplesFor(label, status);
      samples.requests.inc();
      samples.bytes.inc(bytes);
      samples.duration.observe(seconds);
      if (!complete) metrics.incompleteResponses.inc({ cache_status: label });
      request.log.info(
        {
          method: request.method,
          path: redactTarget(request.raw.url ?? ''),
          status,
          cache: label,
          bytes,
          ms: Math.round(seconds * 10_000) / 10,
          complete,
        },
        'request',
      );
    });
    done();
  });
}
