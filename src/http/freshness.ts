// What to store and for how long (RFC 9111 §3 and §4.2). http-cache-semantics
// decides storability, age and revalidation headers; this module adds what an
// operator sets: --default-ttl when the origin says nothing, --negative-ttl
// for 404 and 410, and the stale windows.
import CachePolicy from 'http-cache-semantics';
import { parseCacheControl, deltaSeconds, type HeaderMap } from './headers.js';

export interface FreshnessRules {
  readonly defaultTtlSec: number;
  readonly negativeTtlSec: number;
  readonly staleIfErrorSec: number;
}

export type PolicyObject = CachePolicy.CachePolicyObject;

/** A policy whose clock is the caller's, so tests and callers agree on "now". */
export function policyFor(
  request: CachePolicy.Request,
  response: CachePolicy.Response,
  now: number,
): CachePolicy {
  const policy = new CachePolicy(request, response, { shared: true, cacheHeuristic: 0, ignoreCargoCult: false });
  // The constructor stamps the response time from its own clock; ours is the truth.
  (policy as unknown as { _responseTime: number })._responseTime = now;
  return withClock(policy, now);
}

export function policyFromObject(object: PolicyObject, now: number): CachePolicy {
  return withClock(CachePolicy.fromObject(object), now);
}

/** http-cache-semantics reads "now" through a method: make it the caller's. */
function withClock(policy: CachePolicy, now: number): CachePolicy {
  (policy as unknown as { now: () => number }).now = () => now;
  return policy;
}

export const NEGATIVE_STATUSES = new Set([404, 410]);

/** Statuses the edge keeps: the object itself and the remembered absences. */
export function isStoredStatus(status: number): boolean {
  return status === 200 || NEGATIVE_STATUSES.has(status);
}

/**
 * Why a response may not be shared with other clients, or null. A response
 * that may not be shared is not even handed to requests waiting on the same
 * fetch (Varnish's hit-for-miss): each of them asks the origin itself.
 */
export function privateReason(headers: HeaderMap): string | null {
  const cc = parseCacheControl(headers['cache-control']);
  if (cc.has('private')) return 'private';
  if (headers['set-cookie'] !== undefined) return 'set-cookie';
  if (cc.has('no-store')) return 'no-store';
  const vary = (headers.vary ?? '').toLowerCase().split(',').map((v) => v.trim()).filter(Boolean);
  if (vary.some((name) => name !== 'accept-encoding')) return 'vary';
  return null;
}

export interface StoreDecision {
  readonly store: boolean;
  /** Freshness lifetime in seconds from the response's generation (RFC 9111 §4.2.1). */
  readonly lifetimeSec: number;
  /** Why not stored, for Cache-Status detail. */
  readonly reason?: string;
}

/** Whether and for how long to keep a response the origin just gave. */
export function decideStore(policy: CachePolicy, status: number, headers: HeaderMap, rules: FreshnessRules): StoreDecision {
  if (!isStoredStatus(status)) return { store: false, lifetimeSec: 0, reason: `status ${status}` };
  const unshareable = privateReason(headers);
  if (unshareable) return { store: false, lifetimeSec: 0, reason: unshareable };
  if (!policy.storable()) return { store: false, lifetimeSec: 0, reason: 'not storable' };
  if (NEGATIVE_STATUSES.has(status)) {
    return rules.negativeTtlSec > 0
      ? { store: true, lifetimeSec: rules.negativeTtlSec }
      : { store: false, lifetimeSec: 0, reason: 'negative-ttl 0' };
  }
  const lifetimeSec = lifetime(policy, headers, rules);
  const hasValidator = headers.etag !== undefined || headers['last-modified'] !== undefined;
  // Kept without freshness or validator, it could only ever be refetched.
  if (lifetimeSec <= 0 && !hasValidator) return { store: false, lifetimeSec: 0, reason: 'no freshness or validator' };
  return { store: true, lifetimeSec };
}

function lifetime(policy: CachePolicy, headers: HeaderMap, rules: FreshnessRules): number {
  const cc = parseCacheControl(headers['cache-control']);
  const explicit =
    cc.has('s-maxage') || cc.has('max-age') || cc.has('no-cache') || cc.has('proxy-revalidate') ||
    headers.expires !== undefined;
  return explicit ? policy.maxAge() : rules.defaultTtlSec;
}

export interface StaleWindows {
  /** Seconds past freshness it may be served while one refresh runs (RFC 5861 §3). */
  readonly whileRevalidateSec: number;
  /** Seconds past freshness it may be served while the origin fails (RFC 5861 §4). */
  readonly ifErrorSec: number;
}

export function staleWindows(headers: HeaderMap, rules: FreshnessRules): StaleWindows {
  const cc = parseCacheControl(headers['cache-control']);
  // RFC 9111 §5.2.2.2, §5.2.2.8: these forbid serving stale for any reason.
  if (cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('no-cache')) {
    return { whileRevalidateSec: 0, ifErrorSec: 0 };
  }
  return {
    whileRevalidateSec: deltaSeconds(cc, 'stale-while-revalidate') ?? 0,
    ifErrorSec: deltaSeconds(cc, 'stale-if-error') ?? rules.staleIfErrorSec,
  };
}
