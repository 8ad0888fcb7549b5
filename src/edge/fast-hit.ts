// The hit path without Fastify. A GET or HEAD for a fresh object held in
// memory, asking for no condition, range or credentials, is answered right in
// the request callback: no routing, no hooks, no await. Anything else, and
// any doubt, goes on to the Fastify app, which answers every case the same
// way (test/e2e covers both paths).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Cache } from '../cache/cache.js';
import type { ImageRequests } from '../transform/request.js';
import { canonicalTarget } from '../http/path.js';
import { cacheStatus } from '../http/cache-status.js';
import { hasRepeatedHost, httpDateNow } from '../http/headers.js';
import { deliveryFields } from '../http/answer-head.js';
import { requestId, type AccessLog } from './access.js';
import type { PeerLogGate } from '../peers/log-position.js';
import { LOG_POSITION_HEADER } from '../changelog/log-point.js';
import { COPY_HEADER } from '../peers/peer-client.js';

export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

export function fastHits(cache: Cache, images: ImageRequests, access: AccessLog, accepting: () => boolean, peerLog: PeerLogGate): FastPath {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const asked = req.headers;
    if (
      asked.range !== undefined || asked['if-none-match'] !== undefined ||
      asked['if-modified-since'] !== undefined || asked.authorization !== undefined ||
      // A copy to keep is the app's: what is held in memory may be borrowed, not stored.
      asked[COPY_HEADER] !== undefined ||
      // A GET with a body is suspect (smuggling): the app reads it past, or refuses it.
      asked['transfer-encoding'] !== undefined || (asked['content-length'] !== undefined && asked['content-length'] !== '0')
    ) {
      return false;
    }
    // While draining, the app answers: it closes kept-alive connections.
    if (!accepting()) return false;
    const target = canonicalTarget(req.url ?? '');
    const key = target && images.hitKey(target.path, target.query);
    const hit = key && cache.hotHit(key);
    // Checked for hits only: the app refuses the rest with its own check.
    if (!hit || hasRepeatedHost(req.rawHeaders) || !peerLog.vouches(asked[LOG_POSITION_HEADER] as string | undefined)) return false;
    access.watch(req, res, performance.now(), () => 'hit', () => requestId(req));
    const { object, age, ttl } = hit;
    res.writeHead(object.meta.status, [
      ...object.wholeHeaders,
      ...deliveryFields(object.headers, cacheStatus({ hit: true, ttl }), age, httpDateNow),
    ]);
    res.end(req.method === 'HEAD' ? undefined : object.body);
    return true;
  };
}
