// What to store and for how long (RFC 9111 §3 and §4.2), with what an
// operator sets: --default-ttl when the origin says nothing, --negative-ttl
// for 404 and 410, and the stale windows. http-cache-semantics keeps the
// stored response's clock (its age).
import CachePolicy from 'http-cache-semantics';
import { parseHttpDate, deltaSeconds, normaliseCacheControl, parseCacheControl, type HeaderMap } from './headers.js';
import { edgeDirectives } from './targeted.js';
import { varyNames } from './vary.js';

export interface FreshnessRules {
  readonly defaultTtlSec: number;
  readonly negativeTtlSec: number;
  readonly staleIfErrorSec: number;
}

export type PolicyObject = CachePolicy.CachePolicyObject;

/** The stored form of a response's policy, stamped with the caller's clock. */
export function policyFor(
  request: CachePolicy.Request,
  response: CachePolicy.Response,
  now: number,
): CachePolicy {
  // The library compares directive names as sent; RFC 9111 §5.2 says any case.
  const cacheControl = response.headers['cache-control'];
  const headers =
    typeof cacheControl === 'string' ? { ...response.headers, 'cache-control': normaliseCacheControl(cacheControl) } : response.headers;
  // Only its record of the response is read (headers, time, Age): this
  // cache's own rules decide storing and lifetimes, so the library's options
  // (shared, heuristics) change nothing read. Its default keeps the headers
  // as sent, even beside pre-check and post-check (no ignoreCargoCult).
  const policy = new CachePolicy(request, { ...response, headers });
  // The constructor stamps the response time from its own clock; ours is the truth.
  (policy as unknown as { _responseTime: number })._responseTime = now;
  return policy;
}

/**
 * RFC 9111 §4.2.3, as http-cache-semantics reckons it: the Age the response
 * arrived with, plus the time it has been held. Seconds, never negative.
 */
export function currentAge(policy: PolicyObject, now: number): number {
  const age = policy.resh.age;
  return Math.max(0, (receivedAge(typeof age === 'string' ? age : undefined) ?? 0) + (now - policy.t) / 1000);
}

/**
 * RFC 9111 §5.1: Age is delta-seconds. A list (or several lines, which
 * arrive joined) counts by its first member; anything that is not then a
 * non-negative integer is ignored, as if absent. Large values are capped at
 * 2^31 (§1.2.2).
 */
export function receivedAge(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const first = value.split(',')[0]!.trim();
  return /^\d+$/.test(first) ? Math.min(Number(first), 2 ** 31) : undefined;
}

export const NEGATIVE_STATUSES = new Set([404, 410]);

/**
 * RFC 9111 §3: final statuses may be stored; 206 and 304 are not whole
 * responses. Statuses other than 200, 404 and 410 (a 5xx among them) are
 * kept only when the origin gives them an explicit lifetime.
 */
export function isStorableStatus(status: number): boolean {
  return status >= 200 && status !== 206 && status !== 304;
}

/**
 * RFC 9111 §5.2.2.3: the statuses whose caching rules this cache knows, for
 * which must-understand lifts no-store: those RFC 9110 §15.1 makes
 * heuristically cacheable, besides 206, which is never stored whole.
 */
const UNDERSTOOD_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/**
 * Why a response may not be shared with other clients, or null. A response
 * that may not be shared is not even handed to requests waiting on the same
 * fetch (Varnish's hit-for-miss): each of them asks the origin itself.
 */
export function privateReason(headers: HeaderMap, status: number): string | null {
  const cc = edgeDirectives(headers).directives;
  if (cc.has('private')) return 'private';
  if (headers['set-cookie'] !== undefined) return 'set-cookie';
  if (cc.has('no-store') && !(cc.has('must-understand') && UNDERSTOOD_STATUSES.has(status))) return 'no-store';
  // RFC 9111 §4.1: a Vary of "*" never matches a later request.
  if (varyNames(headers) === '*') return 'vary';
  return null;
}

export interface StoreDecision {
  readonly store: boolean;
  /** Freshness lifetime in seconds from the response's generation (RFC 9111 §4.2.1). */
  readonly lifetimeSec: number;
  /** Why not stored, for Cache-Status detail. */
  readonly reason?: string;
}

/**
 * Whether and for how long to keep a response the origin just gave.
 * `responseTime` is when it arrived, for an Expires without a Date.
 */
export function decideStore(status: number, headers: HeaderMap, rules: FreshnessRules, responseTime: number): StoreDecision {
  if (!isStorableStatus(status)) return { store: false, lifetimeSec: 0, reason: `status ${status}` };
  const unshareable = privateReason(headers, status);
  if (unshareable) return { store: false, lifetimeSec: 0, reason: unshareable };
  // §5.2.2.3: only a cache that understands the status may store it.
  if (edgeDirectives(headers).directives.has('must-understand') && !UNDERSTOOD_STATUSES.has(status)) {
    return { store: false, lifetimeSec: 0, reason: 'must-understand' };
  }
  // Surrogate-Control counts only where no targeted field (RFC 9213) does.
  const surrogate = edgeDirectives(headers).targeted ? { noStore: false, maxAge: undefined } : surrogateControl(headers);
  if (surrogate.noStore) return { store: false, lifetimeSec: 0, reason: 'no-store' };
  const explicit = surrogate.maxAge ?? explicitLifetime(headers, responseTime);
  let lifetimeSec: number;
  if (NEGATIVE_STATUSES.has(status)) {
    // An absence the origin says must be checked each time is not remembered.
    if (explicit === 0) return { store: false, lifetimeSec: 0, reason: 'no-cache' };
    lifetimeSec = explicit ?? rules.negativeTtlSec;
    if (lifetimeSec <= 0) return { store: false, lifetimeSec: 0, reason: 'negative-ttl 0' };
    return { store: true, lifetimeSec };
  }
  if (status === 200) lifetimeSec = explicit ?? rules.defaultTtlSec;
  else if (explicit !== undefined && explicit > 0) lifetimeSec = explicit;
  else return { store: false, lifetimeSec: 0, reason: `status ${status} without freshness` };
  const hasValidator = headers.etag !== undefined || headers['last-modified'] !== undefined;
  // Kept without freshness or validator, it could only ever be refetched.
  if (lifetimeSec <= 0 && !hasValidator) return { store: false, lifetimeSec: 0, reason: 'no freshness or validator' };
  return { store: true, lifetimeSec };
}

/**
 * Surrogate-Control (W3C Edge Architecture 1.0): directives for caches like
 * this one, unqualified or targeted at "imgedge". They win over
 * Cache-Control, and are not passed on to clients.
 */
export function surrogateControl(headers: HeaderMap): { noStore: boolean; maxAge: number | undefined } {
  const value = headers['surrogate-control'];
  // Most responses carry none.
  if (value === undefined) return { noStore: false, maxAge: undefined };
  const unqualified = new Map<string, string>();
  const targeted = new Map<string, string>();
  for (const part of value.split(',')) {
    const [directive, target] = part.split(';') as [string, string?];
    const into = target === undefined ? unqualified : target.trim().toLowerCase() === 'imgedge' ? targeted : undefined;
    // One directive (the list is split at commas), read as Cache-Control's are.
    for (const [name, argument] of parseCacheControl(directive)) into?.set(name, argument);
  }
  const ours = new Map([...unqualified, ...targeted]);
  return { noStore: ours.has('no-store'), maxAge: deltaSeconds(ours, 'max-age') };
}

/**
 * RFC 9111 §4.2.1 for a shared cache: s-maxage, then max-age, then Expires
 * minus Date; undefined when the origin gave no freshness at all. no-cache
 * (§5.2.2.4) and an invalid value (§4.2.1, §5.3) count as already stale.
 * A targeted field (RFC 9213 §2.2) stands in for Cache-Control, and Expires
 * does not count beside it.
 */
export function explicitLifetime(headers: HeaderMap, responseTime: number): number | undefined {
  const { directives: cc, targeted } = edgeDirectives(headers);
  if (cc.has('no-cache')) return 0;
  const sMaxAge = deltaSeconds(cc, 's-maxage');
  if (sMaxAge !== undefined) return sMaxAge;
  const maxAge = deltaSeconds(cc, 'max-age');
  if (maxAge !== undefined) return maxAge;
  if (cc.has('s-maxage') || cc.has('max-age')) return 0;
  if (targeted || headers.expires === undefined) return undefined;
  // §5.3: an invalid Expires (two of them included) means already expired.
  const expires = parseHttpDate(headers.expires, responseTime);
  if (Number.isNaN(expires)) return 0;
  const date = parseHttpDate(headers.date, responseTime);
  return Math.max(0, (expires - (Number.isNaN(date) ? responseTime : date)) / 1000);
}

export interface StaleWindows {
  /** Seconds past freshness it may be served while one refresh runs (RFC 5861 §3). */
  readonly whileRevalidateSec: number;
  /** Seconds past freshness it may be served while the origin fails (RFC 5861 §4). */
  readonly ifErrorSec: number;
}

/**
 * RFC 9111 §4.2.4: no-cache, must-revalidate and proxy-revalidate forbid
 * serving stale for any reason. s-maxage carries proxy-revalidate for a
 * shared cache (§5.2.2.10), so --stale-if-error, the cache's own default,
 * does not apply to it; the origin's explicit stale-while-revalidate and
 * stale-if-error (RFC 5861) still do, as CDNs read them.
 */
export function staleWindows(headers: HeaderMap, rules: FreshnessRules): StaleWindows {
  const cc = edgeDirectives(headers).directives;
  if (cc.has('no-cache') || cc.has('must-revalidate') || cc.has('proxy-revalidate')) {
    return { whileRevalidateSec: 0, ifErrorSec: 0 };
  }
  return {
    whileRevalidateSec: deltaSeconds(cc, 'stale-while-revalidate') ?? 0,
    ifErrorSec: deltaSeconds(cc, 'stale-if-error') ?? (cc.has('s-maxage') ? 0 : rules.staleIfErrorSec),
  };
}
