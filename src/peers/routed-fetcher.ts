// The cache's fetcher when replicas peer: a key this replica owns, or a
// request a peer sent, goes to the origin; any other key goes to its owner,
// and to the member that ranks next for it when the owner cannot be reached
// (the owner is then set aside for a while). The filler streams and
// coalesces whatever this returns, so waiters at a non-owner get bytes as
// the owner receives them; an owner's answer is marked, so the cache keeps
// it in memory only: the owner has it on disk. A member asking this replica
// to keep a copy (`--peer-copies 2`) is answered from its own storage.
//
// Before the origin, a replica that misses a key it fetches for looks into
// the storage of the member that owns the key when this one is left out (its
// stand-in): while this replica was away (restarted, or set aside by the
// others) that member fetched the key in its place, and a copy it holds is a
// cross-IDC fetch saved. The look asks for `only-if-cached`, so the stand-in
// answers from storage at once or says it holds nothing; it never fetches.
import { NotCached, PeerUnreachable } from '../errors.js';
import type { HeaderMap } from '../http/headers.js';
import type { InterimListener, OriginFetcher, OriginResponse } from '../origin-client.js';
import type { Membership } from './membership.js';
import { COPY_HEADER, PEER_HEADER, type PeerClient } from './peer-client.js';

export type PeerFetchResult = 'ok' | 'unreachable';
/** hit: the stand-in held it; miss: it did not (the origin is asked); unreachable: neither (the origin is asked). */
export type HandoffResult = 'hit' | 'miss' | 'unreachable';

export interface PeerEvents {
  peerFetched?(result: PeerFetchResult, peer: string): void;
  handedOver?(result: HandoffResult, peer: string): void;
  /** A peer that failed a fetch was set aside (not already aside): its keys go to the next member for a while. */
  setAside?(peer: string, reason: string): void;
}

/** A revalidation or a part is the origin's to answer: a stand-in's copy is looked for only for a whole, unconditional fetch. */
const NOT_HANDED_OVER = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];

export class RoutedFetcher implements OriginFetcher {
  constructor(
    private readonly origin: OriginFetcher,
    private readonly peers: PeerClient,
    private readonly membership: Membership,
    private readonly events: PeerEvents = {},
  ) {}

  async fetch(target: string, marked: HeaderMap, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse> {
    // The marks are between replicas: never passed on, and a copy is taken only from one.
    const { [PEER_HEADER]: asker, [COPY_HEADER]: copy, ...headers } = marked;
    if (asker !== undefined && copy !== undefined && this.membership.members.includes(asker)) return this.#copyFrom(asker, target, headers, signal);
    // Asked by a peer: fetched here, never passed on again.
    if (asker !== undefined) return this.#fetchHere(target, headers, asker, signal, onInterim);
    // An owner that cannot be reached is set aside and the key goes to the
    // next member, as it does at every replica that noticed: they still agree
    // on one fetcher, whose fill the others join. At most once per member.
    for (let left = this.membership.members.length; left > 0; left--) {
      const owner = this.membership.owner(target);
      if (owner === this.membership.self) break;
      try {
        const response = await this.peers.fetch(owner, target, headers, signal, onInterim);
        this.events.peerFetched?.('ok', owner);
        return { ...response, fromPeer: true };
      } catch (error) {
        if (!(error instanceof PeerUnreachable)) throw error;
        this.#setAside(error);
        this.events.peerFetched?.('unreachable', owner);
      }
    }
    return this.#fetchHere(target, headers, undefined, signal, onInterim);
  }

  /** A fetch this replica makes itself: from its stand-in's storage when that holds the key, else from the origin. */
  async #fetchHere(target: string, headers: HeaderMap, asker: string | undefined, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse> {
    const standIn = NOT_HANDED_OVER.some((name) => headers[name] !== undefined) ? undefined : this.membership.standIn(target);
    // The asking peer is the stand-in only when it holds nothing either: it would not have asked.
    if (standIn !== undefined && standIn !== asker) {
      const held = await this.#lookInto(standIn, target, headers, signal);
      if (held) return held;
    }
    return this.origin.fetch(target, headers, signal, onInterim);
  }

  /** The copy a replica asked this one to keep, from that replica's storage; nothing when it holds none (it never fetches for it). */
  async #copyFrom(holder: string, target: string, headers: HeaderMap, signal?: AbortSignal): Promise<OriginResponse> {
    const held = await this.#heldBy(holder, target, headers, signal);
    if (!held) throw new NotCached();
    return { ...held, copied: true };
  }

  /**
   * What `peer` holds of `target` in its storage (`only-if-cached`: it never
   * fetches for this), or null: a 504 (not held), or anything else a stored
   * copy may be, which the origin is left to say.
   */
  async #heldBy(peer: string, target: string, headers: HeaderMap, signal?: AbortSignal): Promise<OriginResponse | null> {
    const response = await this.peers.fetch(peer, target, { ...headers, 'cache-control': 'only-if-cached' }, signal);
    if (response.status === 200) return response;
    response.body.destroy();
    return null;
  }

  #setAside(error: PeerUnreachable): void {
    if (this.membership.markDown(error.peer, error.refused)) this.events.setAside?.(error.peer, error.message);
  }

  async #lookInto(standIn: string, target: string, headers: HeaderMap, signal?: AbortSignal): Promise<OriginResponse | null> {
    let held: OriginResponse | null;
    try {
      held = await this.#heldBy(standIn, target, headers, signal);
    } catch (error) {
      if (!(error instanceof PeerUnreachable)) throw error;
      this.#setAside(error);
      this.events.handedOver?.('unreachable', standIn);
      return null;
    }
    this.events.handedOver?.(held ? 'hit' : 'miss', standIn);
    return held;
  }
}
