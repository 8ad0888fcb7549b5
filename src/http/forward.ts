// Which of a client's request headers go on to the origin. A fill is shared
// by everyone who asks meanwhile, so what it sends must not be one client's
// own: no cookies, no conditionals or ranges (the edge makes its own), no
// Accept-Encoding (the answer must suit every client), nothing hop-by-hop
// (RFC 9110 §7.6.1).
import { randomBytes } from 'node:crypto';
import type { HeaderMap } from './headers.js';

const NOT_FORWARDED = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'content-length', 'content-type', 'expect',
  'cookie', 'authorization', 'accept-encoding', 'range', 'if-range',
  'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since',
]);

/**
 * How an edge names itself in Via (RFC 9110 §7.6.3, a pseudonym): unique per
 * process, so that an edge recognises its own entry on a request that comes
 * back to it, whichever replica or IDC it passed through meanwhile.
 */
export function newPseudonym(): string {
  return `imgedge-${randomBytes(6).toString('hex')}`;
}

export function viaEntry(pseudonym: string): string {
  return `1.1 ${pseudonym}`;
}

/** Whether a Via field value carries an entry received by `pseudonym`. */
export function passedThrough(via: string | string[] | undefined, pseudonym: string): boolean {
  // An absent Via joins to "", which names no one.
  for (const entry of [via].flat().join(',').split(',')) {
    // received-protocol SP received-by [ SP comment ]
    const [, receivedBy] = entry.trim().split(/[ \t]+/);
    if (receivedBy === pseudonym) return true;
  }
  return false;
}

export function forwardedHeaders(request: Readonly<Record<string, string | string[] | undefined>>, pseudonym: string): HeaderMap {
  const connectionTokens = String(request.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(request)) {
    if (value === undefined || NOT_FORWARDED.has(name) || connectionTokens.includes(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // RFC 9110 §7.6.3: each intermediary appends itself.
  const via = viaEntry(pseudonym);
  out.via = out.via ? `${out.via}, ${via}` : via;
  return out;
}
