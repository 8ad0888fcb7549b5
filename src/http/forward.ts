// Which of a client's request headers go on to the origin. A fill is shared
// by everyone who asks meanwhile, so what it sends must not be one client's
// own: no cookies, no conditionals or ranges (the edge makes its own), no
// Accept-Encoding (the answer must suit every client), nothing hop-by-hop
// (RFC 9110 §7.6.1).
import type { HeaderMap } from './headers.js';

const NOT_FORWARDED = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'content-length', 'content-type', 'expect',
  'cookie', 'authorization', 'accept-encoding', 'range', 'if-range',
  'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since',
]);

export const VIA = '1.1 imgedge';

export function forwardedHeaders(request: Readonly<Record<string, string | string[] | undefined>>): HeaderMap {
  const connectionTokens = String(request.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(request)) {
    if (value === undefined || NOT_FORWARDED.has(name) || connectionTokens.includes(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // RFC 9110 §7.6.3: each intermediary appends itself.
  out.via = out.via ? `${out.via}, ${VIA}` : VIA;
  return out;
}
