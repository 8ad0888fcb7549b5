// An edge process: both listeners, the cache behind them, and the SIGTERM
// drain. /readyz says 503 until the index is loaded and again from SIGTERM on,
// so Kubernetes stops routing before the process stops.
import fsp from 'node:fs/promises';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { EdgeConfig } from '../config.js';
import { Store } from '../cache/store.js';
import { CacheIndex } from '../cache/index.js';
import { Cache, type CacheEvents } from '../cache/cache.js';
import { lockCacheDir } from '../cache/lock.js';
import { OriginClient } from '../origin-client.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { buildAdminApp, buildPublicApp } from './app.js';
import type { PurgeRequest } from './admin.js';
import type { Resolver } from '../peers/membership.js';
import { VERSION } from '../version.js';
import { NotReady, PurgeIncomplete } from '../errors.js';
import { createLog } from '../log.js';
import { ImageRequests } from '../transform/request.js';
import { Pipeline, type TransformEvents } from '../transform/pipeline.js';
import { VariantFetcher } from '../transform/variants.js';
import { acceptVaryKey } from '../transform/negotiate.js';
import os from 'node:os';
import { newPseudonym } from '../http/forward.js';
import { Peering, startPeering } from '../peers/peering.js';
import { peerLogGate } from '../peers/log-position.js';
import { DEFAULT_TIMING, Follower, type FollowerTiming } from '../changelog/follower.js';
import { Relay } from '../changelog/relay.js';
import { HttpFeed } from '../changelog/http-feed.js';
import { RedisFeed } from '../changelog/redis-feed.js';
import { isRedisUrl, parseRedisUrl } from '../changelog/redis-url.js';
import type { ChangeFeed } from '../changelog/feed.js';

export interface RunningEdge {
  readonly publicApp: FastifyInstance;
  readonly adminApp: FastifyInstance;
  readonly log: FastifyBaseLogger;
  readonly metrics: Metrics;
  /** Drains and stops; resolves when every in-flight response has finished. */
  close(): Promise<void>;
}

function cacheEvents(metrics: Metrics, stored: (target: string) => void): CacheEvents {
  return {
    stored,
    originStarted: () => metrics.originFetchesInFlight.inc(),
    originFinished: (result, seconds) => {
      metrics.originFetchesInFlight.dec();
      metrics.originFetches.inc({ result });
      metrics.originFetchDuration.observe({ result }, seconds);
      if (result === 'storage_error') metrics.storageErrors.inc();
    },
    coalesced: () => metrics.coalescedWaiters.inc(),
    staleServed: (reason) => metrics.staleServed.inc({ reason }),
  };
}

function transformEvents(metrics: Metrics): TransformEvents {
  return {
    finished: (result, format, seconds) => {
      metrics.transforms.inc({ result, format });
      metrics.transformDuration.observe({ result }, seconds);
    },
    queueDepth: (queued) => metrics.transformQueueDepth.set(queued),
  };
}

export interface EdgeSeams {
  /** The clock freshness is judged by; tests pass their own. */
  readonly now?: () => number;
  /** Resolves --peers-dns; the system's DNS when not given. */
  readonly resolve?: Resolver;
  /** How the change-log follower polls and backs off; tests make it quicker. */
  readonly changelogTiming?: Partial<FollowerTiming>;
}

export async function startEdge(config: EdgeConfig, seams: EdgeSeams = {}): Promise<RunningEdge> {
  let state: 'loading' | 'ready' | 'draining' = 'loading';
  let index: CacheIndex | null = null;
  let cache: Cache | null = null;
  let peering: Peering | null = null;
  let follower: Follower | null = null;
  const metrics = createMetrics(
    {
      changelogLagSeconds: () => follower?.lagSeconds() ?? 0,
      bytes: () => index?.bytes ?? 0,
      objects: () => index?.count ?? 0,
      maxBytes: () => config.cacheMaxBytes,
      maxOriginFetches: () => config.maxOriginFetches,
      ready: () => state === 'ready',
    },
    {
      members: () => peering?.membership.members.length ?? 1,
      down: () => peering?.membership.down ?? 0,
      ownedObjects: () => (index && peering ? peering.ownedObjects(index) : (index?.count ?? 0)),
    },
  );
  const processLog = createLog(config.logLevel);
  const common = { metrics, clientTimeoutMs: config.clientTimeoutMs, maxHeaderBytes: config.maxHeaderBytes };
  const adminApp = buildAdminApp({
    ...common,
    logger: processLog.logger,
    adminToken: config.adminToken,
    readiness: { notReadyReason: () => (state === 'ready' ? null : state === 'loading' ? 'loading the cache index' : 'draining') },
    purger: { purge: (request: PurgeRequest, fromPeer: boolean) => purge(request, fromPeer) },
  });
  const log = adminApp.log;
  const purge = async (request: PurgeRequest, fromPeer: boolean): Promise<number> => {
    // Until the journal is read, what it holds cannot be dropped: the purger is told to retry.
    if (!cache) throw new NotReady('the cache index is still loading');
    const purged = cache.invalidate(request.paths, request.prefixes);
    if (!peering || fromPeer) return purged;
    const unreached = await peering.purgePeers(request);
    if (unreached.length) throw new PurgeIncomplete(purged, unreached);
    return purged;
  };

  await adminApp.listen({ host: config.adminListen.host, port: config.adminListen.port });

  const startedAt = Date.now();
  await fsp.mkdir(config.cacheDir, { recursive: true });
  const unlock = await lockCacheDir(config.cacheDir);
  const store = await Store.open(config.cacheDir);
  index = await CacheIndex.load(store, config.cacheMaxBytes, {
    evicted: (entry) => {
      metrics.evictions.inc();
      metrics.evictedBytes.inc(entry.size);
    },
    removed: (entry) => cache?.forget(entry.file),
    journalFailed: (error) => {
      metrics.storageErrors.inc();
      log.error({ err: error.message }, 'cache index journal not written; a restart finds what it missed by scanning the cache dir');
    },
  });
  const origin = new OriginClient({
    origin: config.origin,
    timeoutMs: config.originTimeoutMs,
    maxConnections: config.maxOriginFetches,
    userAgent: `imgedge/${VERSION}`,
    logPosition: () => follower?.position ?? null,
  });
  const pseudonym = newPseudonym();
  peering = config.peers || config.peersDns
    ? await startPeering(config, {
        origin,
        resolve: seams.resolve,
        events: {
          peerFetched: (result) => metrics.peerFetches.inc({ result }),
          handedOver: (result) => metrics.peerHandoffs.inc({ result }),
          setAside: (peer, reason) => log.warn({ peer, reason }, 'peer set aside: its keys go to the next replica for a while'),
        },
        purged: (confirmed, failed) => {
          metrics.peerPurges.inc({ result: 'ok' }, confirmed);
          metrics.peerPurges.inc({ result: 'failed' }, failed);
        },
        log,
        logPosition: () => follower?.position ?? null,
        copied: (result) => metrics.peerCopies.inc({ result }),
      })
    : null;
  const pipeline = new Pipeline(
    {
      maxSourceBytes: config.maxSourceBytes,
      maxInputPixels: config.maxSourcePixels,
      timeoutMs: config.transformTimeoutMs,
      concurrency: os.availableParallelism(),
      maxQueued: config.transformQueue,
    },
    transformEvents(metrics),
  );
  // A variant's fill reads its source through this same cache.
  const variants = new VariantFetcher(peering?.fetcher ?? origin, (lookup) => (lookup.headers.authorization ? cache!.pass(lookup) : cache!.get(lookup)), pipeline);
  cache = new Cache(
    store,
    index,
    variants,
    {
      rules: { defaultTtlSec: config.defaultTtlSec, negativeTtlSec: config.negativeTtlSec, staleIfErrorSec: config.staleIfErrorSec },
      maxObjectBytes: Math.min(config.maxObjectBytes, config.cacheMaxBytes),
      memoryBytes: config.memoryCacheBytes,
      // format=auto keys by the format Accept chooses, not its text.
      varyNormalisers: { accept: acceptVaryKey },
      now: seams.now,
    },
    cacheEvents(metrics, (target) => peering?.copyToStandIn(target)),
  );
  const images = new ImageRequests({ signingKey: config.signingKey, allowedWidths: config.allowedWidths });
  const loadedCache = cache;
  const indexed = index;
  const waitSec = { ...DEFAULT_TIMING, ...seams.changelogTiming }.waitSec;
  const feed: ChangeFeed | null =
    config.changelog === 'off' ? null
    : isRedisUrl(config.changelog) ? new RedisFeed(parseRedisUrl(config.changelog), waitSec)
    : new HttpFeed(config.origin, `imgedge/${VERSION}`, waitSec);
  follower =
    feed &&
    new Follower({
      feed,
      cacheDir: config.cacheDir,
      // Every replica follows the log itself: an entry is applied here alone, never passed to the peers.
      invalidate: (paths, prefixes, replacedBy) => void loadedCache.invalidate(paths, prefixes, replacedBy),
      purgesDurable: () => loadedCache.purgesDurable(),
      markStaleBefore: (time) => loadedCache.markStaleBefore(time),
      doubtBefore: (time) => loadedCache.doubtBefore(time),
      holdsObjects: () => indexed.count > 0,
      metrics,
      log,
      now: seams.now,
      timing: seams.changelogTiming,
    });
  // Before the first request: a saved gap marks what is held as doubtful, and
  // what is held is doubted until the log has been read to its end.
  await follower?.load();
  follower?.start();
  const publicApp = buildPublicApp({
    ...common, logger: log, cache, images, pseudonym, accessLine: processLog.line, relay: follower && new Relay(follower),
    peerLog: peerLogGate(follower),
  });
  await publicApp.listen({ host: config.listen.host, port: config.listen.port });
  state = 'ready';
  log.info(
    {
      objects: index.count,
      bytes: index.bytes,
      ms: Date.now() - startedAt,
      listen: publicApp.server.address(),
      admin: adminApp.server.address(),
      origin: config.origin.href,
      via: pseudonym,
      ...(peering ? { self: peering.membership.self, peers: peering.membership.members } : {}),
      changelog: feed ? { following: feed.describe, position: follower?.position } : 'off',
    },
    'edge ready',
  );
  const loadedIndex = index;
  void loadedIndex.recover().then(
    (found) => log.info(found, 'cache dir checked'),
    (error: unknown) => log.error({ err: error }, 'cache dir check failed'),
  );

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      state = 'draining';
      log.info({ inFlightFills: cache!.fillsInProgress }, 'draining');
      const timer = setTimeout(() => {
        log.warn({ ms: config.drainTimeoutMs }, 'drain timed out; aborting what is left');
        cache!.abortFills();
        publicApp.server.closeAllConnections();
      }, config.drainTimeoutMs);
      // First: its long polls, and those of edges below relayed by this one, end now.
      await follower?.stop();
      try {
        await publicApp.close();
        // An object whose last byte went out may still be committing: the journal must hear of it.
        await cache!.fillsSettled();
      } finally {
        clearTimeout(timer);
      }
      await loadedIndex.close();
      await peering?.close();
      await origin.close();
      await adminApp.close();
      await unlock();
      log.info('stopped');
      await processLog.flush();
    })());

  return { publicApp, adminApp, log, metrics, close };
}
