// Every imgedge_* metric, in one registry per edge. Labels stay few and
// bounded (cache status, status class, result): never a path or a key.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import { CountingHistogram } from './counting-histogram.js';

export interface Metrics {
  readonly registry: Registry;
  /** Run before each scrape: counts kept in plain numbers on hot paths are added then. */
  readonly beforeScrape: Set<() => void>;
  readonly requests: Counter<'cache_status' | 'status_class'>;
  readonly responseBytes: Counter<'cache_status'>;
  readonly peerRequests: Counter<'cache_status' | 'status_class'>;
  readonly peerResponseBytes: Counter<'cache_status'>;
  readonly incompleteResponses: Counter<'cache_status'>;
  readonly rejectedRequests: Counter<'reason'>;
  readonly storageErrors: Counter;
  readonly requestDuration: CountingHistogram;
  readonly originFetches: Counter<'result'>;
  readonly originFetchDuration: Histogram<'result'>;
  readonly originFetchesInFlight: Gauge;
  readonly coalescedWaiters: Counter;
  readonly evictions: Counter;
  readonly evictedBytes: Counter;
  readonly purges: Counter<'kind'>;
  readonly purgedObjects: Counter;
  readonly staleServed: Counter<'reason'>;
  readonly transforms: Counter<'result' | 'format'>;
  readonly transformDuration: Histogram<'result'>;
  readonly transformQueueDepth: Gauge;
  readonly peerFetches: Counter<'result'>;
  readonly peerHandoffs: Counter<'result'>;
  readonly peerCopies: Counter<'result'>;
  readonly peerPurges: Counter<'result'>;
  readonly changelogApplied: Counter;
  readonly changelogGaps: Counter<'reason'>;
  readonly changelogLagEntries: Gauge;
  readonly changelogPosition: Gauge;
  readonly changelogState: Gauge<'state'>;
}

/** The replica set as this replica sees it; one member (itself) without peers. */
export interface PeerGauges {
  members(): number;
  down(): number;
  /** Stored objects whose owner is this replica (estimated from a sample). */
  ownedObjects(): number;
}

export const CHANGELOG_STATES = ['off', 'no_log', 'connecting', 'following', 'retrying'] as const;
export type ChangelogState = (typeof CHANGELOG_STATES)[number];

export interface CacheGauges {
  bytes(): number;
  objects(): number;
  maxBytes(): number;
  maxOriginFetches(): number;
  ready(): boolean;
  /** Seconds the edge may be behind its change log; 0 while it follows none. */
  changelogLagSeconds?(): number;
}

export function createMetrics(gauges: CacheGauges, peers: PeerGauges): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'imgedge_' });
  const registers = [registry];
  const beforeScrape = new Set<() => void>();
  /** A counter the hot paths count in plain numbers, added to it before each scrape. */
  const countedOnScrape = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({
      name, help, labelNames, registers,
      collect() {
        for (const flush of beforeScrape) flush();
      },
    });
  const metrics: Metrics = {
    registry,
    beforeScrape,
    requests: countedOnScrape('imgedge_requests_total', 'Public requests answered, by cache outcome and status class; not those of other replicas (imgedge_peer_requests_total)', ['cache_status', 'status_class']),
    responseBytes: countedOnScrape('imgedge_response_bytes_total', 'Bytes written to clients on the public port, heads included', ['cache_status']),
    peerRequests: countedOnScrape(
      'imgedge_peer_requests_total',
      'Requests of other replicas (marked Imgedge-Peer: looks, fetches through the owner, copies) answered on the public port, by cache outcome and status class',
      ['cache_status', 'status_class'],
    ),
    peerResponseBytes: countedOnScrape('imgedge_peer_response_bytes_total', 'Bytes written to other replicas on the public port, heads included', ['cache_status']),
    incompleteResponses: new Counter({
      name: 'imgedge_incomplete_responses_total',
      help: 'Public responses that ended before their last byte: the client went away, or the origin body broke',
      labelNames: ['cache_status'],
      registers,
    }),
    rejectedRequests: new Counter({
      name: 'imgedge_rejected_requests_total',
      help: 'Requests the HTTP parser refused before routing, by reason (bad_request, header_too_large, timeout)',
      labelNames: ['reason'],
      registers,
    }),
    storageErrors: new Counter({
      name: 'imgedge_storage_errors_total',
      help: 'Fills abandoned because the cache dir failed (full, read-only, out of file descriptors)',
      registers,
    }),
    requestDuration: new CountingHistogram(
      'imgedge_request_duration_seconds',
      'Time from request to the last byte sent, by cache outcome',
      'cache_status',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registry,
    ),
    originFetches: new Counter({
      name: 'imgedge_origin_fetches_total',
      help: 'Requests made upstream, to the origin or, with peers, to the owning replica (imgedge_peer_fetches_total counts those), by result (ok, not_modified, client_error, server_error, timeout, unavailable, broken, storage_error)',
      labelNames: ['result'],
      registers,
    }),
    originFetchDuration: new Histogram({
      name: 'imgedge_origin_fetch_duration_seconds',
      help: 'Time from sending an origin request to its last body byte, by result',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    originFetchesInFlight: new Gauge({
      name: 'imgedge_origin_fetches_in_flight',
      help: 'Origin requests under way now',
      registers,
    }),
    coalescedWaiters: new Counter({
      name: 'imgedge_coalesced_waiters_total',
      help: 'Requests that joined an origin fetch already under way instead of starting one',
      registers,
    }),
    evictions: new Counter({
      name: 'imgedge_evictions_total',
      help: 'Objects evicted to stay under --cache-max-bytes',
      registers,
    }),
    evictedBytes: new Counter({
      name: 'imgedge_evicted_bytes_total',
      help: 'Bytes evicted to stay under --cache-max-bytes',
      registers,
    }),
    purges: new Counter({
      name: 'imgedge_purges_total',
      help: 'Paths and prefixes purged, by kind (path, prefix)',
      labelNames: ['kind'],
      registers,
    }),
    purgedObjects: new Counter({
      name: 'imgedge_purged_objects_total',
      help: 'Stored objects dropped by purges',
      registers,
    }),
    staleServed: new Counter({
      name: 'imgedge_stale_served_total',
      help: 'Stale copies served, by reason (stale_while_revalidate, stale_if_error)',
      labelNames: ['reason'],
      registers,
    }),
    transforms: new Counter({
      name: 'imgedge_transforms_total',
      help: 'Image variants made, by result (ok, unsupported, too_large, timeout, busy, error) and output format',
      labelNames: ['result', 'format'],
      registers,
    }),
    transformDuration: new Histogram({
      name: 'imgedge_transform_seconds',
      help: 'Time to make one variant, queue wait included, by result',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    transformQueueDepth: new Gauge({
      name: 'imgedge_transform_queue_depth',
      help: 'Transforms waiting for a core',
      registers,
    }),
    peerFetches: new Counter({
      name: 'imgedge_peer_fetches_total',
      help: "Misses sent to the key's owner among the replicas, by result (ok; unreachable: the replica next in line was asked instead)",
      labelNames: ['result'],
      registers,
    }),
    peerHandoffs: new Counter({
      name: 'imgedge_peer_handoffs_total',
      help: "Fetches this replica makes itself, first looked for in the storage of the replica that owns the key when this one is left out, by result (hit: the origin was not asked; miss, unreachable: it was)",
      labelNames: ['result'],
      registers,
    }),
    peerCopies: new Counter({
      name: 'imgedge_peer_copies_total',
      help: 'With --peer-copies 2: objects this replica stored from the origin and asked the replica that takes their keys when it is gone to keep too, by result (ok: it is taking the copy; failed; skipped: too many waiting)',
      labelNames: ['result'],
      registers,
    }),
    peerPurges: new Counter({
      name: 'imgedge_peer_purges_total',
      help: 'Purges passed on to a peer replica, by result (ok, failed)',
      labelNames: ['result'],
      registers,
    }),
    changelogApplied: new Counter({
      name: 'imgedge_changelog_entries_applied_total',
      help: 'Change-log entries applied (each drops the stored objects of its path)',
      registers,
    }),
    changelogGaps: new Counter({
      name: 'imgedge_changelog_gaps_total',
      help: 'Times the edge lost track of the change log and marked everything it held stale, by reason (trimmed, reset, ahead, no_position)',
      labelNames: ['reason'],
      registers,
    }),
    changelogLagEntries: new Gauge({
      name: 'imgedge_changelog_lag_entries',
      help: 'Change-log entries the log held, at the last answer, that the edge had not applied',
      registers,
    }),
    changelogPosition: new Gauge({
      name: 'imgedge_changelog_position',
      help: 'Sequence number of the last change-log entry applied',
      registers,
    }),
    changelogState: new Gauge({
      name: 'imgedge_changelog_state',
      help: `1 for the follower's current state: ${CHANGELOG_STATES.join(', ')}`,
      labelNames: ['state'],
      registers,
    }),
  };
  new Gauge({
    name: 'imgedge_peers',
    help: 'Replicas in the replica set, this one included',
    registers,
    collect() {
      this.set(peers.members());
    },
  });
  new Gauge({
    name: 'imgedge_peers_down',
    help: 'Peers set aside after a failed fetch; their keys go to the next replica meanwhile',
    registers,
    collect() {
      this.set(peers.down());
    },
  });
  new Gauge({
    name: 'imgedge_peer_owned_objects',
    help: 'Stored objects this replica owns among its peers (estimated from a sample of at most 1000)',
    registers,
    collect() {
      this.set(peers.ownedObjects());
    },
  });
  new Gauge({
    name: 'imgedge_changelog_lag_seconds',
    help: 'How far behind its change log the edge may be: 0 while caught up and connected, else the age of what it last knew',
    registers,
    collect() {
      this.set(gauges.changelogLagSeconds?.() ?? 0);
    },
  });
  for (const state of CHANGELOG_STATES) metrics.changelogState.set({ state }, state === 'off' ? 1 : 0);
  new Gauge({
    name: 'imgedge_cache_bytes',
    help: 'Bytes of objects on disk',
    registers,
    collect() {
      this.set(gauges.bytes());
    },
  });
  new Gauge({
    name: 'imgedge_cache_max_bytes',
    help: 'The --cache-max-bytes limit',
    registers,
    collect() {
      this.set(gauges.maxBytes());
    },
  });
  new Gauge({
    name: 'imgedge_origin_fetches_max',
    help: 'The --max-origin-fetches limit: origin fetches beyond it queue',
    registers,
    collect() {
      this.set(gauges.maxOriginFetches());
    },
  });
  new Gauge({
    name: 'imgedge_ready',
    help: '1 when /readyz answers 200; 0 while the index loads and while draining',
    registers,
    collect() {
      this.set(gauges.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'imgedge_cache_objects',
    help: 'Objects on disk',
    registers,
    collect() {
      this.set(gauges.objects());
    },
  });
  return metrics;
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
