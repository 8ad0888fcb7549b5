// The public port: GET and HEAD only. request → key → cache → reply, with the
// RFC 9110 conditional and range rules applied to whatever the cache answers.
import { pipeline, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Answer, Cache } from '../cache/cache.js';
import { BodyWriter } from '../cache/body-writer.js';
import type { ImageRequests } from '../transform/request.js';
import { normaliseTarget } from '../http/path.js';
import { forwardedHeaders, passedThrough } from '../http/forward.js';
import { parseRange, contentRange as contentRangeOf } from '../http/range.js';
import { isNotModified, ifRangeHolds, NOT_MODIFIED_FIELDS } from '../http/conditional.js';
import { cacheStatus, cacheStatusLabel } from '../http/cache-status.js';
import { hasRepeatedHost, httpDateNow, parseCacheControl, type HeaderMap } from '../http/headers.js';
import { deliveryFields, objectFields, type BodyFraming } from '../http/answer-head.js';
import { BadRequest, LoopDetected, MethodNotAllowed, NotCached, RangeNotSatisfiable } from '../errors.js';
import { COPY_HEADER, PEER_HEADER } from '../peers/peer-client.js';
import type { PeerLogGate } from '../peers/log-position.js';
import { LOG_POSITION_HEADER } from '../changelog/log-point.js';

export const ALLOW = 'GET, HEAD';

/**
 * How long an owner reads its change log to catch up with a peer that has
 * read further (replicas follow the same log, a few milliseconds apart)
 * before it fetches for that peer alone instead of answering from its cache.
 */
const PEER_LOG_WAIT_MS = 1000;

declare module 'fastify' {
  interface FastifyRequest {
    /** The cache outcome, for the access log and metrics. */
    cacheLabel?: string;
    /** The Cache-Status this request's answer carries, errors included. */
    cacheStatus?: string;
  }
}

/**
 * `pseudonym` is how this edge names itself in Via: a request that already
 * carries it has come back around a loop of origins, and is refused.
 */
export function registerPublicRoutes(app: FastifyInstance, cache: Cache, images: ImageRequests, pseudonym: string, peerLog: PeerLogGate): void {
  app.decorateRequest('cacheLabel', undefined);
  app.decorateRequest('cacheStatus', undefined);
  // Before any body is read: uploads go to the origin, never through an edge.
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new MethodNotAllowed(ALLOW);
    if (hasRepeatedHost(request.raw.rawHeaders)) throw new BadRequest('more than one Host field');
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '*',
    handler: (request, reply) => serve(cache, images, pseudonym, peerLog, request, reply),
  });
}

async function serve(
  cache: Cache, images: ImageRequests, pseudonym: string, peerLog: PeerLogGate, request: FastifyRequest, reply: FastifyReply,
): Promise<FastifyReply> {
  // Before any fill is joined: a looping request would otherwise wait on the fill it is part of.
  if (passedThrough(request.headers.via, pseudonym)) throw new LoopDetected(pseudonym);
  const url = request.raw.url ?? '/';
  const target = normaliseTarget(url);
  // Checked before any fetch: a bad transform or sig never reaches the origin.
  const q = url.indexOf('?');
  const { key } = images.resolve(q === -1 ? url : url.slice(0, q), target.path, target.query);
  const cacheControl = request.headers['cache-control'];
  const onlyIfCached = cacheControl !== undefined && parseCacheControl(cacheControl).has('only-if-cached');
  // A peer waits for this acknowledgement only a short while, then asks the
  // origin itself; an object held in memory is answered at once instead.
  let vouched = true;
  const logPoint = request.headers[LOG_POSITION_HEADER] as string | undefined;
  if (request.headers[PEER_HEADER] !== undefined && onlyIfCached) {
    // A look into this replica's storage (peers/routed-fetcher.ts): it answers at once or not at all.
    vouched = peerLog.vouches(logPoint);
  } else if (request.headers[PEER_HEADER] !== undefined && request.method === 'GET') {
    if (!peerLog.vouches(logPoint)) {
      reply.raw.writeProcessing();
      // What is held here may be what the peer's log has already replaced.
      vouched = await peerLog.waitFor(logPoint, PEER_LOG_WAIT_MS);
    } else if (!cache.hotHit(key)) reply.raw.writeProcessing();
  }
  const lookup = {
    key, target: key, headers: forwardedHeaders(request.headers, pseudonym), request: request.headers, onlyIfCached,
    storedOnly: request.headers[COPY_HEADER] !== undefined,
    onInterim: (status: number, fields: Readonly<Record<string, string | string[]>>) => passInterim(reply, status, fields),
  };
  // RFC 9111 §3.5: what answers an authorised request is that client's own.
  const authorization = request.headers.authorization;
  // What is passed is never stored here: only-if-cached cannot be answered.
  if (onlyIfCached && (authorization || !vouched)) throw new NotCached();
  const answer = authorization
    ? await cache.pass({ ...lookup, headers: { ...lookup.headers, authorization } })
    : vouched ? await cache.get(lookup) : await cache.pass(lookup);
  request.cacheLabel = cacheStatusLabel(answer.cacheStatus);
  request.cacheStatus = cacheStatus(answer.cacheStatus);
  try {
    return respond(request, reply, answer);
  } catch (error) {
    answer.discard();
    throw error;
  }
}

/**
 * RFC 9110 §15.2: a proxy forwards the 1xx answers it did not ask for. Node
 * writes the two a GET can get: 102 and 103 (with its fields); the rest go.
 */
function passInterim(reply: FastifyReply, status: number, fields: Readonly<Record<string, string | string[]>>): void {
  const res = reply.raw;
  if (res.headersSent || res.destroyed) return;
  if (status === 102) res.writeProcessing();
  else if (status === 103) res.writeEarlyHints({ ...fields });
}

function respond(request: FastifyRequest, reply: FastifyReply, answer: Answer): FastifyReply | Promise<FastifyReply> {
  const size = answer.size;

  if (answer.status === 200 && isNotModified(request.headers as HeaderMap, answer.headers)) {
    answer.discard();
    const fields = answerFields(request, answer, { length: undefined, ranges: false });
    return sendHead(reply, 304, keptOnNotModified(fields));
  }

  let start = 0;
  let end = size;
  let status = answer.status;
  let contentRange: string | undefined;
  const ranges = answer.status === 200 && answer.rangeable && size !== undefined;
  if (ranges) {
    const range = request.headers.range;
    if (range !== undefined && ifRangeHolds(request.headers['if-range'] as string | undefined, answer.headers)) {
      const decision = parseRange(range, size);
      if (decision.kind === 'unsatisfiable') {
        answer.discard();
        throw new RangeNotSatisfiable(size);
      }
      if (decision.kind === 'partial') {
        status = 206;
        start = decision.start;
        end = decision.end + 1;
        contentRange = contentRangeOf(decision.start, decision.end, size);
      }
    }
  }
  const fields = answerFields(request, answer, { length: end === undefined ? undefined : end - start, ranges, contentRange });
  if (request.method === 'HEAD') {
    answer.discard();
    return sendHead(reply, status, fields);
  }
  const body = answer.body(start, end);
  if (body instanceof BodyWriter) return writeBody(request, reply, status, fields, body);
  if (Buffer.isBuffer(body)) return sendHead(reply, status, fields, body);
  return pipeBody(request, reply, status, fields, body);
}

/** Every field of this answer's head, built as the hit paths build theirs. */
function answerFields(request: FastifyRequest, answer: Answer, framing: BodyFraming): string[] {
  const fields = [
    ...objectFields(answer.headers, framing),
    ...deliveryFields(answer.headers, request.cacheStatus!, answer.age, httpDateNow),
  ];
  for (const cookie of answer.setCookie ?? []) fields.push('set-cookie', cookie);
  return fields;
}

const NOT_MODIFIED_KEPT = new Set([...NOT_MODIFIED_FIELDS, 'age', 'cache-status']);

function keptOnNotModified(fields: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < fields.length; i += 2) if (NOT_MODIFIED_KEPT.has(fields[i]!)) kept.push(fields[i]!, fields[i + 1]!);
  return kept;
}

/**
 * Writes the head itself, so no framework field is added to it, then the
 * body when it is in memory. Before the hijack: a head Node refuses (a
 * stored value it does not allow) is still the error handler's to answer.
 */
function sendHead(reply: FastifyReply, status: number, fields: string[], body?: Buffer): FastifyReply {
  reply.raw.writeHead(status, fields);
  reply.hijack();
  reply.raw.end(body);
  return reply;
}

/** An origin body passed through: its failure, or the client's, cuts the answer and lets go of the other. */
function pipeBody(request: FastifyRequest, reply: FastifyReply, status: number, fields: string[], body: Readable): FastifyReply {
  reply.raw.writeHead(status, fields);
  reply.hijack();
  pipeline(body, reply.raw, (error) => {
    if (error && !reply.raw.writableFinished) request.log.warn({ err: error.message }, 'response cut short');
  });
  return reply;
}

/**
 * A stored or filling body, written into the response by the cache's writer
 * rather than piped by Fastify: the waiters of a fill are answered together,
 * and each costs only its writes. Until the first byte is ready the answer
 * can still become an error; after it, a failure cuts the body short.
 */
async function writeBody(
  request: FastifyRequest, reply: FastifyReply, status: number, fields: string[], writer: BodyWriter,
): Promise<FastifyReply> {
  try {
    await writer.ready();
    // Before the hijack: a head Node refuses is still the error handler's to answer.
    reply.raw.writeHead(status, fields);
  } catch (error) {
    writer.release();
    throw error;
  }
  reply.hijack();
  void writer.writeTo(reply.raw).then((cutShort) => {
    if (cutShort) request.log.warn({ err: cutShort.message }, 'response cut short');
  });
  return reply;
}
