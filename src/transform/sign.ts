// URL signing (HMAC-SHA256, unpadded base64url). The signed message is the
// path exactly as sent, then every query parameter but sig, sorted by name
// and then value and serialised as URLSearchParams does: so a signer in any
// language gets the same bytes whatever order its URL builder used.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The message a request's sig covers. */
export function signedMessage(rawPath: string, query: string): string {
  const pairs = [...new URLSearchParams(query)].filter(([name]) => name !== 'sig');
  if (pairs.length === 0) return rawPath;
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return `${rawPath}?${new URLSearchParams(pairs).toString()}`;
}

export function signature(key: string, message: string): string {
  return createHmac('sha256', key).update(message).digest('base64url');
}

/** Whether `sig` signs this path and query; compared in constant time. */
export function verifySignature(key: string, rawPath: string, query: string, sig: string | undefined): boolean {
  if (sig === undefined) return false;
  const expected = Buffer.from(signature(key, signedMessage(rawPath, query)));
  const given = Buffer.from(sig);
  // Lengths differ only for a malformed sig: its length says nothing of the key.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A URL (absolute, or a path with its query) with its sig appended, as sent: nothing re-encoded. */
export function signUrl(key: string, url: string): string {
  const hash = url.indexOf('#');
  const bare = hash === -1 ? url : url.slice(0, hash);
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(bare);
  const rest = scheme ? bare.slice(scheme[0].length) : bare;
  const q = rest.indexOf('?');
  const rawPath = (q === -1 ? rest : rest.slice(0, q)) || '/';
  const query = q === -1 ? '' : rest.slice(q + 1);
  const sig = signature(key, signedMessage(rawPath, query));
  const joiner = q === -1 ? '?' : query === '' || query.endsWith('&') ? '' : '&';
  return `${bare}${joiner}sig=${sig}`;
}
