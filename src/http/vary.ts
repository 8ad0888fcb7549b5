// Vary (RFC 9110 §12.5.5, RFC 9111 §4.1): which request headers select a
// stored response, and the normalised values a request presents for them.
// Pure: the cache turns the result into a secondary key.
import type { HeaderMap } from './headers.js';

/** A request's header fields as Node gives them: repeated lines already joined by ", ". */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * How one varied header's value is reduced before comparing: two requests
 * whose values reduce alike share a stored response. A caller may add its
 * own (a negotiated format keys by the format chosen, not the Accept text).
 */
export type VaryNormaliser = (value: string | undefined) => string | undefined;

/**
 * The request headers a response varies on, lower case, sorted and
 * without repeats; '*' when it varies on something outside the request
 * (never reused, RFC 9111 §4.1); null when it does not vary. The edge never
 * forwards Accept-Encoding (every client gets the origin's one answer), so
 * varying on it selects nothing.
 */
export function varyNames(headers: HeaderMap): readonly string[] | '*' | null {
  const value = headers.vary;
  if (value === undefined) return null;
  const names = new Set<string>();
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return '*';
    if (name && name !== 'accept-encoding') names.add(name);
  }
  return names.size === 0 ? null : [...names].sort();
}

/**
 * RFC 9111 §4.1 lets a cache normalise values that mean the same: list
 * members with the whitespace around them gone (repeated lines arrive joined
 * with ", "), and Accept-Language's language ranges in any case and order.
 */
const BUILT_IN: Readonly<Record<string, VaryNormaliser>> = {
  'accept-language': (value) =>
    value === undefined ? undefined : listMembers(value).map((m) => m.toLowerCase()).sort().join(','),
};

function listMembers(value: string): string[] {
  return value.split(',').map((m) => m.trim()).filter(Boolean);
}

function anyHeader(value: string | undefined): string | undefined {
  return value === undefined ? undefined : listMembers(value).join(',');
}

/**
 * What a request presents for the varied headers, as one string: the same
 * string for two requests means one stored response serves both. An absent
 * header differs from an empty one (RFC 9111 §4.1: both must be absent to
 * match).
 */
export function varySpec(
  names: readonly string[],
  request: RequestHeaders,
  normalisers: Readonly<Record<string, VaryNormaliser>> = {},
): string {
  let spec = '';
  for (const name of names) {
    const raw = request[name];
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    const normalise = normalisers[name] ?? BUILT_IN[name] ?? anyHeader;
    const normalised = normalise(value);
    spec += normalised === undefined ? `${name}\n` : `${name}=${normalised}\n`;
  }
  return spec;
}
