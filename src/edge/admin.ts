// The admin port: health, readiness, metrics and purge. Never on the public port.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';
import { BadRequest, Forbidden, Unauthorized } from '../errors.js';
import { normaliseTarget } from '../http/path.js';
import { PEER_HEADER } from '../peers/peer-client.js';

export interface Readiness {
  /** Why the edge is not ready, or null when it is. */
  notReadyReason(): string | null;
}

export interface PurgeRequest {
  readonly paths: readonly string[];
  readonly prefixes: readonly string[];
}

export interface Purger {
  /**
   * Drops every stored object of these canonical paths and prefixes; returns
   * how many. `fromPeer`: passed on by another replica, so not passed on again.
   */
  purge(request: PurgeRequest, fromPeer: boolean): number | Promise<number>;
}

interface AdminDeps {
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly purger: Purger;
  readonly adminToken: string | undefined;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant time whatever the lengths: both sides are hashed first. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  return timingSafeEqual(digest(match[1]!), digest(token));
}

function stringList(body: Record<string, unknown>, field: string): string[] {
  const value = body[field];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new BadRequest(`"${field}" must be an array of strings`);
  }
  if (value.length > 10_000) throw new BadRequest(`"${field}" holds over 10000 entries`);
  // Canonical like request paths, so "/a%2Ejpg" purges what "/a.jpg" stored.
  return value.map((v) => normaliseTarget(v).path);
}

export function parsePurgeBody(body: unknown): PurgeRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('expected a JSON object {"paths": [...], "prefixes": [...]}');
  }
  const request = { paths: stringList(body as Record<string, unknown>, 'paths'), prefixes: stringList(body as Record<string, unknown>, 'prefixes') };
  if (request.paths.length === 0 && request.prefixes.length === 0) throw new BadRequest('nothing to purge: give "paths" or "prefixes"');
  return request;
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_request, reply) => {
    const reason = deps.readiness.notReadyReason();
    if (reason) return reply.code(503).type('text/plain').send(`not ready: ${reason}\n`);
    return reply.type('text/plain').send('ready\n');
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });

  app.post('/purge', { bodyLimit: 1024 * 1024 }, async (request, reply) => {
    if (!deps.adminToken) {
      request.log.warn({ audit: 'purge-refused', reason: 'no --admin-token', remote: request.ip }, 'purge refused');
      throw new Forbidden('purge is disabled: start the edge with --admin-token');
    }
    if (!tokenMatches(request.headers.authorization, deps.adminToken)) {
      request.log.warn({ audit: 'purge-refused', reason: 'missing or wrong token', remote: request.ip }, 'purge refused');
      throw new Unauthorized();
    }
    const purge = parsePurgeBody(request.body);
    const purged = await deps.purger.purge(purge, request.headers[PEER_HEADER] !== undefined);
    if (purge.paths.length) deps.metrics.purges.inc({ kind: 'path' }, purge.paths.length);
    if (purge.prefixes.length) deps.metrics.purges.inc({ kind: 'prefix' }, purge.prefixes.length);
    deps.metrics.purgedObjects.inc(purged);
    request.log.info({ audit: 'purge', paths: purge.paths, prefixes: purge.prefixes, purged, remote: request.ip }, 'purge');
    return reply.send({ purged });
  });
}
