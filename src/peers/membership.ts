// The replica set of an IDC as this replica sees it: a static list, or the
// addresses of a DNS name resolved again every so often (a headless Service
// lists its ready pods). Peers that failed a fetch are set aside for a while,
// and their keys go to the member that ranks next for each, so that the
// replicas that noticed still agree on one fetcher per key.
import { ownerOf } from './ring.js';

export interface MembershipOptions {
  /** This replica, as its peers reach it (a URL origin). */
  readonly self: string;
  /** How long a peer that failed stays aside. */
  readonly downMs: number;
  /** How long one that refused the connection stays aside: trying it again costs nothing, and it may be back soon. */
  readonly refusedDownMs?: number;
  readonly now?: () => number;
}

export class Membership {
  readonly self: string;
  #members: readonly string[];
  readonly #downUntil = new Map<string, number>();
  /** When each peer was last set aside. */
  readonly #setAsideAt = new Map<string, number>();
  readonly #downMs: number;
  readonly #refusedDownMs: number;
  readonly #now: () => number;

  constructor(options: MembershipOptions, members: readonly string[] = []) {
    this.self = options.self;
    this.#downMs = options.downMs;
    this.#refusedDownMs = options.refusedDownMs ?? options.downMs;
    this.#now = options.now ?? Date.now;
    this.#members = withSelf(this.self, members);
  }

  /** Every member, this one included, sorted. */
  get members(): readonly string[] {
    return this.#members;
  }

  /** Members currently set aside after a failure. */
  get down(): number {
    const now = this.#now();
    return this.#members.filter((m) => (this.#downUntil.get(m) ?? 0) > now).length;
  }

  set(members: readonly string[]): void {
    this.#members = withSelf(this.self, members);
    for (const peer of this.#downUntil.keys()) if (!this.#members.includes(peer)) this.#downUntil.delete(peer);
    for (const peer of this.#setAsideAt.keys()) if (!this.#members.includes(peer)) this.#setAsideAt.delete(peer);
  }

  /** The member that fetches `key` from the origin: its owner, or the next live one while the owner is down. */
  owner(key: string): string {
    return ownerOf(key, this.#live())!;
  }

  /**
   * The live member that owns `key` when this one is left out: the one that
   * owned it while this replica was away or set aside, so that may hold it.
   * Undefined when this replica has no live peer.
   */
  standIn(key: string): string | undefined {
    return ownerOf(key, this.#live().filter((m) => m !== this.self));
  }

  #live(): readonly string[] {
    if (this.#downUntil.size === 0) return this.#members;
    const now = this.#now();
    return this.#members.filter((m) => m === this.self || (this.#downUntil.get(m) ?? 0) <= now);
  }

  /**
   * Sets `peer` aside for a while (a short one when it `refused` the
   * connection). True when it had not been set aside within the long while:
   * a peer that is gone, tried again every moment, is news once.
   */
  markDown(peer: string, refused = false): boolean {
    if (peer === this.self) return false;
    const now = this.#now();
    const last = this.#setAsideAt.get(peer);
    this.#setAsideAt.set(peer, now);
    this.#downUntil.set(peer, now + (refused ? this.#refusedDownMs : this.#downMs));
    return last === undefined || now - last >= this.#downMs;
  }
}

function withSelf(self: string, members: readonly string[]): readonly string[] {
  return Object.freeze([...new Set([self, ...members])].sort());
}

/** A name's addresses, IPv4 and IPv6 together; [] when it has none. */
export type Resolver = (name: string) => Promise<string[]>;

export interface DnsMembersOptions {
  readonly name: string;
  /** The scheme and port every replica listens on: the members are `${protocol}//${address}:${port}`. */
  readonly protocol: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly resolve: Resolver;
  /** A failed resolution keeps the last members; told here. */
  readonly failed?: (error: unknown) => void;
  readonly changed?: (members: readonly string[]) => void;
}

/** The member URL of an address: IPv6 in brackets. */
export function memberUrl(protocol: string, address: string, port: number): string {
  return new URL(`${protocol}//${address.includes(':') ? `[${address}]` : address}:${port}`).origin;
}

/**
 * Keeps `membership` set to the addresses of a DNS name: once now (awaited),
 * then every `intervalMs`. Returns the function that stops it.
 */
export async function followDns(membership: Membership, options: DnsMembersOptions): Promise<() => void> {
  const refresh = async () => {
    try {
      const addresses = await options.resolve(options.name);
      const members = addresses.map((a) => memberUrl(options.protocol, a, options.port));
      const before = membership.members.join(' ');
      membership.set(members);
      if (membership.members.join(' ') !== before) options.changed?.(membership.members);
    } catch (error) {
      options.failed?.(error);
    }
  };
  await refresh();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => void refresh().finally(() => !stopped && schedule()), options.intervalMs);
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
