// A replica's peering, put together from the edge's config: who the replicas
// are (a list, or a DNS name followed), who this one is, the fetcher the cache
// uses, and purges passed on. Nothing here runs without --peers or --peers-dns.
import os from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { EdgeConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { OriginFetcher } from '../origin-client.js';
import type { CacheIndex } from '../cache/index.js';
import { primaryKey } from '../cache/key.js';
import { VERSION } from '../version.js';
import { Membership, followDns, type Resolver } from './membership.js';
import { PeerClient } from './peer-client.js';
import { RoutedFetcher, type PeerEvents } from './routed-fetcher.js';
import { fanOutPurge } from './purge-fanout.js';
import { deriveSelf } from './self.js';
import { systemResolver } from './resolver.js';
import type { Position } from '../changelog/position.js';

export interface PeeringDeps {
  readonly origin: OriginFetcher;
  readonly resolve?: Resolver;
  readonly events: PeerEvents;
  /** How many peers confirmed a purge passed on, and how many did not. */
  readonly purged: (confirmed: number, failed: number) => void;
  readonly log: FastifyBaseLogger;
  /** How far this replica has read the change log, sent to owners with each request. */
  readonly logPosition: () => Position | null;
  /** How a copy asked of the stand-in went (`--peer-copies 2`). */
  readonly copied?: (result: CopyResult) => void;
}

/** ok: the stand-in is taking the copy; failed: it is not; skipped: too many waiting already. */
export type CopyResult = 'ok' | 'failed' | 'skipped';

/** Copies asked at once at most; in a burst of fills (a cold start) the rest wait their turn. */
const MAX_COPYING = 16;
/** Copies waiting at most (a path each): beyond, skipped and counted. */
const MAX_WAITING_COPIES = 4096;

export interface Peering {
  readonly membership: Membership;
  readonly fetcher: OriginFetcher;
  /** Passes a purge on to every other replica; resolves with those not reached. */
  purgePeers(purge: { readonly paths: readonly string[]; readonly prefixes: readonly string[] }): Promise<string[]>;
  ownedObjects(index: CacheIndex): number;
  /**
   * With `--peer-copies 2`: after this replica stored an object it fetched,
   * the replica that takes the key when this one is gone (its stand-in) is
   * asked to keep a copy, so losing one replica costs no fetch across IDCs.
   */
  copyToStandIn(target: string): void;
  close(): Promise<void>;
}

const OWNED_SAMPLE = 1000;

export async function startPeering(config: EdgeConfig, deps: PeeringDeps): Promise<Peering> {
  const self = config.self?.origin ?? deriveSelf(config.listen, config.peers, Object.values(os.networkInterfaces()).flat().filter((a) => a !== undefined));
  if (!self) throw new ConfigError('self', 'could not be derived from this host\'s addresses: give --self URL');
  // A peer that failed stays aside long enough to spare every miss a timeout,
  // short enough that a restarted replica is soon asked again. One that
  // refused costs no timeout to try again: it is tried after a moment, so a
  // replica back from a restart gets its keys again at once, rather than
  // fetching them itself while the others still fetch them in its place.
  const membership = new Membership(
    { self, downMs: Math.max(10 * config.peerTimeoutMs, 5_000), refusedDownMs: config.peerTimeoutMs },
    config.peers?.map((u) => u.origin) ?? [],
  );
  if (config.peers && !membership.members.includes(self)) throw new ConfigError('self', `${self} is not one of --peers`);
  const stopDns = config.peersDns
    ? await followDns(membership, {
        name: config.peersDns,
        protocol: new URL(self).protocol,
        port: Number(new URL(self).port || 80),
        intervalMs: config.peersDnsRefreshMs,
        resolve: deps.resolve ?? systemResolver,
        failed: (error) => deps.log.warn({ err: (error as Error).message, name: config.peersDns }, 'peers DNS lookup failed; keeping the last replica set'),
        changed: (members) => deps.log.info({ peers: members }, 'replica set changed'),
      })
    : () => {};
  const client = new PeerClient({
    self,
    ackTimeoutMs: config.peerTimeoutMs,
    timeoutMs: config.originTimeoutMs + config.peerTimeoutMs,
    userAgent: `imgedge/${VERSION}`,
    logPosition: deps.logPosition,
  });
  const adminToken = config.adminToken;
  const waitingCopies: string[] = [];
  let copying = 0;
  const askCopies = () => {
    while (copying < MAX_COPYING && waitingCopies.length > 0) {
      const target = waitingCopies.shift()!;
      // Asked of the stand-in of the moment: the one the key goes to if this replica goes now.
      const standIn = membership.standIn(target);
      if (standIn === undefined) continue;
      copying++;
      client.copy(standIn, target).then(
        (status) => deps.copied?.(status === 200 ? 'ok' : 'failed'),
        () => deps.copied?.('failed'),
      ).finally(() => {
        copying--;
        askCopies();
      });
    }
  };
  return {
    membership,
    fetcher: new RoutedFetcher(deps.origin, client, membership, deps.events),
    purgePeers: async (purge) => {
      // Without a token no replica accepts a purge, so none reached this point.
      const unreached = await fanOutPurge(membership.members, purge, {
        self, adminPort: config.adminListen.port, adminToken: adminToken!, timeoutMs: Math.max(config.peerTimeoutMs, 5_000),
      });
      deps.purged(membership.members.length - 1 - unreached.length, unreached.length);
      return unreached;
    },
    ownedObjects: (index) => {
      // Every key would cost a hash per member: a sample spread over the index, scaled, is enough for a gauge.
      const total = index.count;
      if (total === 0) return 0;
      const step = Math.max(1, Math.floor(total / OWNED_SAMPLE));
      let seen = 0;
      let sampled = 0;
      let owned = 0;
      for (const entry of index.entriesOldestFirst()) {
        if (seen++ % step !== 0) continue;
        sampled++;
        if (membership.owner(primaryKey(entry.key)) === self) owned++;
        if (sampled >= OWNED_SAMPLE) break;
      }
      return Math.round((owned / sampled) * total);
    },
    copyToStandIn: (target) => {
      if (config.peerCopies < 2) return;
      if (waitingCopies.length >= MAX_WAITING_COPIES) return deps.copied?.('skipped');
      waitingCopies.push(target);
      askCopies();
    },
    close: async () => {
      stopDns();
      waitingCopies.length = 0;
      await client.close();
    },
  };
}
