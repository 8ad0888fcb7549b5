// GET /.imgedge/changes on the public port: the change log this edge follows,
// relayed to edges below it (tiering), in the origin's wire format. Never
// cached, never fetched through the cache; 404 while the edge follows no log.
import type { FastifyInstance } from 'fastify';
import { CHANGES_PATH, parseChangesQuery } from '../changelog/wire.js';
import { changesPage, CHANGES_HEADERS, type ChangeSource } from '../changelog/serve.js';
import { CACHE_NAME } from '../http/cache-status.js';
import { NotFound } from '../errors.js';

export function registerRelayRoute(app: FastifyInstance, relay: ChangeSource | null, maxWaitSec: number): void {
  app.get(CHANGES_PATH, async (request, reply) => {
    request.cacheLabel = 'none';
    request.cacheStatus = `${CACHE_NAME}; detail=changelog`;
    if (!relay || relay.id === '') throw new NotFound('this edge follows no change log');
    const url = request.raw.url ?? '';
    const query = parseChangesQuery(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    const aborter = new AbortController();
    reply.raw.once('close', () => aborter.abort());
    const page = await changesPage(relay, { ...query, waitSec: Math.min(query.waitSec, maxWaitSec) }, aborter.signal);
    return reply.headers({ ...CHANGES_HEADERS, 'cache-status': request.cacheStatus }).send(JSON.stringify(page));
  });
}
