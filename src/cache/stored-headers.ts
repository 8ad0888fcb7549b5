// The header fields of stored objects: which are kept, how a 304 refreshes
// them, and the validators a revalidation sends.
import type { ObjectMeta } from './store.js';
import type { HeaderMap } from '../http/headers.js';

// RFC 9110 §7.6.1 and RFC 9111 §3.1: never stored, never replayed.
const UNSTORED_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'set-cookie', 'cache-status',
  'surrogate-control',
]);

export function storableHeaders(headers: HeaderMap): HeaderMap {
  const connectionTokens = (headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  const kept: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (UNSTORED_HEADERS.has(name) || connectionTokens.includes(name)) continue;
    kept[name] = value;
  }
  return kept;
}

export function contentLength(headers: HeaderMap): number | undefined {
  const raw = headers['content-length'];
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/** The headers an object was stored with, as a client gets them (Age apart). */
export function storedHeaders(meta: ObjectMeta): HeaderMap {
  const { age: _age, ...headers } = meta.policy.resh as HeaderMap;
  return headers;
}

// RFC 9111 §3.2: a 304 updates the stored header fields it carries, except
// those that describe the body it does not carry (Content-Length among them,
// which is never stored at all).
const KEPT_ON_REFRESH = new Set(['content-encoding', 'content-range', 'content-md5', 'etag']);

export function refreshedHeaders(stored: HeaderMap, notModified: HeaderMap): HeaderMap {
  const merged = { ...stored };
  for (const [name, value] of Object.entries(storableHeaders(notModified))) {
    if (!KEPT_ON_REFRESH.has(name)) merged[name] = value;
  }
  return merged;
}

export function validators(meta: ObjectMeta): HeaderMap {
  const headers = meta.policy.resh as HeaderMap;
  const out: HeaderMap = {};
  if (headers.etag) out['if-none-match'] = headers.etag;
  if (headers['last-modified']) out['if-modified-since'] = headers['last-modified'];
  return out;
}
