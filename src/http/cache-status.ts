// RFC 9211 Cache-Status, one member named for this cache.

export const CACHE_NAME = 'imgedge';

export type Forward = 'miss' | 'stale' | 'uri-miss' | 'request' | 'bypass';

export interface CacheStatusParts {
  readonly hit?: boolean;
  readonly fwd?: Forward;
  readonly fwdStatus?: number;
  readonly stored?: boolean;
  readonly collapsed?: boolean;
  readonly ttl?: number;
  readonly detail?: string;
  /** Not printed: the response was passed through, neither stored nor shared. */
  readonly passed?: boolean;
}

export function cacheStatus(parts: CacheStatusParts): string {
  let out = CACHE_NAME;
  if (parts.fwd) out += `; fwd=${parts.fwd}`;
  if (parts.fwdStatus !== undefined) out += `; fwd-status=${parts.fwdStatus}`;
  if (parts.hit) out += '; hit';
  if (parts.stored) out += '; stored';
  if (parts.collapsed) out += '; collapsed';
  if (parts.ttl !== undefined) out += `; ttl=${Math.round(parts.ttl)}`;
  if (parts.detail) out += `; detail=${/^[A-Za-z][\w\-.]*$/.test(parts.detail) ? parts.detail : JSON.stringify(parts.detail)}`;
  return out;
}

/** The low-cardinality label metrics use for a Cache-Status. */
export function cacheStatusLabel(parts: CacheStatusParts): string {
  if (parts.hit) return parts.fwd === 'stale' ? 'stale' : 'hit';
  if (parts.fwd === 'stale') return 'revalidated';
  if (parts.passed || parts.fwd === 'bypass') return 'pass';
  if (parts.fwd) return parts.collapsed ? 'collapsed' : 'miss';
  return 'none';
}
