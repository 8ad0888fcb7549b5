// The cache's fetcher when replicas peer: a key this replica owns, or a
// request a peer sent, goes to the origin; any other key goes to its owner,
// and to the origin after all when the owner cannot be reached (the owner is
// then set aside for a while). The filler streams and coalesces whatever this
// returns, so waiters at a non-owner get bytes as the owner receives them;
// an owner's answer is marked, so the cache keeps it in memory only: the
// owner has it on disk.
import { PeerUnreachable } from '../errors.js';
import type { HeaderMap } from '../http/headers.js';
import type { InterimListener, OriginFetcher, OriginResponse } from '../origin-client.js';
import type { Membership } from './membership.js';
import { PEER_HEADER, type PeerClient } from './peer-client.js';

export type PeerFetchResult = 'ok' | 'unreachable';

export interface PeerEvents {
  peerFetched?(result: PeerFetchResult, peer: string): void;
}

export class RoutedFetcher implements OriginFetcher {
  constructor(
    private readonly origin: OriginFetcher,
    private readonly peers: PeerClient,
    private readonly membership: Membership,
    private readonly events: PeerEvents = {},
  ) {}

  async fetch(target: string, headers: HeaderMap, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse> {
    if (headers[PEER_HEADER] !== undefined) {
      // Asked by a peer: fetched here, never passed on again.
      const { [PEER_HEADER]: _asker, ...forOrigin } = headers;
      return this.origin.fetch(target, forOrigin, signal, onInterim);
    }
    const owner = this.membership.owner(target);
    if (owner === this.membership.self) return this.origin.fetch(target, headers, signal, onInterim);
    try {
      const response = await this.peers.fetch(owner, target, headers, signal, onInterim);
      this.events.peerFetched?.('ok', owner);
      return { ...response, fromPeer: true };
    } catch (error) {
      if (!(error instanceof PeerUnreachable)) throw error;
      this.membership.markDown(owner);
      this.events.peerFetched?.('unreachable', owner);
      return this.origin.fetch(target, headers, signal, onInterim);
    }
  }
}
