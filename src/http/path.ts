// Request target → a canonical path and query. Request paths are never turned
// into file paths (cache files are named by hash), but the canonical path is
// what goes to the origin, so anything that could make the origin step outside
// its root is refused here, whatever the encoding.
import { BadPath } from '../errors.js';

export const MAX_PATH_BYTES = 2048;
export const MAX_QUERY_BYTES = 2048;

export interface RequestTarget {
  /** Canonical, percent-encoded, starting with "/": what the origin is asked for. */
  readonly path: string;
  /** The query as sent, without "?"; "" when none. */
  readonly query: string;
}

// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
const PCHAR = /[A-Za-z0-9\-._~!$&'()*+,;=:@]/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** "/" then segments of pchars (no "%"), none empty, "." or "..". */
/** Query characters that need no look: no "%" (so no encoded NUL), no controls. */
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*$/;
const ALREADY_CANONICAL = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)+\/?$|^\/$/;

/** Every byte encoded is 0x20 or more (control characters are refused first), so two hex digits. */
function hex(byte: number): string {
  return `%${byte.toString(16).toUpperCase()}`;
}

/**
 * RFC 3986 §6.2.2: percent-encoded unreserved characters are decoded, other
 * percent-encodings keep their meaning with upper-case hex ("%2B" is not "+":
 * S3 reads a raw "+" in a path as a space), and anything not a pchar is
 * encoded as UTF-8.
 */
function canonicalSegment(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const char = raw[i]!;
    if (char === '%') {
      const byte = Number.parseInt(raw.slice(i + 1, i + 3), 16);
      const decoded = String.fromCharCode(byte);
      out += UNRESERVED.test(decoded) ? decoded : hex(byte);
      i += 2;
    } else if (PCHAR.test(char)) {
      out += char;
    } else {
      const codePoint = raw.codePointAt(i)!;
      const whole = String.fromCodePoint(codePoint);
      for (const byte of Buffer.from(whole, 'utf8')) out += hex(byte);
      i += whole.length - 1;
    }
  }
  return out;
}

/** Checks what a segment means once decoded; the canonical form keeps its encoding. */
function checkSegment(raw: string): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadPath('malformed percent-encoding');
  }
  // An encoded separator would be a second way to spell a path: the origin
  // may decode it into one, so "..%2f" could climb out of its root.
  if (decoded.includes('/') || decoded.includes('\\')) throw new BadPath('encoded path separator');
  // RFC 9110 §5.5 forbids NUL anywhere; other controls (C0, DEL, C1) have no place in a name.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(decoded)) throw new BadPath('control character in path');
}

/**
 * The target as it is when it needs no work: a canonical path and a plain
 * query; null for anything else (normaliseTarget decides those). No throw,
 * no allocation beyond the split: this is the hit path's check.
 */
export function canonicalTarget(target: string): RequestTarget | null {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  if (path.length > MAX_PATH_BYTES || !ALREADY_CANONICAL.test(path)) return null;
  if (query && (query.length > MAX_QUERY_BYTES || !PLAIN_QUERY.test(query))) return null;
  return { path, query };
}

/**
 * Normalises like nginx does: "." segments go, ".." takes one back and may
 * never climb above "/", repeated slashes merge, percent-encoding becomes
 * canonical (RFC 3986 §6.2.2). Throws BadPath for anything unsafe.
 */
export function normaliseTarget(target: string): RequestTarget {
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  if (Buffer.byteLength(rawPath) > MAX_PATH_BYTES) throw new BadPath(`path over ${MAX_PATH_BYTES} bytes`);
  if (Buffer.byteLength(query) > MAX_QUERY_BYTES) throw new BadPath(`query over ${MAX_QUERY_BYTES} bytes`);
  if (!rawPath.startsWith('/')) throw new BadPath('path must start with /');
  if (/[\u0000-\u0020\u007f-\u009f#]/.test(target)) throw new BadPath('raw control character or space in target');
  if (/%00/i.test(query)) throw new BadPath('NUL in query');
  // Most paths are canonical already: pchars only, no empty or dot segment.
  if (ALREADY_CANONICAL.test(rawPath)) return { path: rawPath, query };

  const segments: string[] = [];
  const parts = rawPath.split('/');
  let trailingSlash = false;
  for (const raw of parts) {
    // RFC 3986 §5.2.4: a path ending in "/", "." or ".." names a directory.
    if (raw === '') {
      trailingSlash = true;
      continue;
    }
    checkSegment(raw);
    const segment = canonicalSegment(raw);
    trailingSlash = segment === '.' || segment === '..';
    if (segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) throw new BadPath('path escapes the root');
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  let path = `/${segments.join('/')}`;
  if (trailingSlash && segments.length > 0) path += '/';
  // Checked again once canonical: encoding can make a path longer, and a
  // canonical path must pass here again (a parent edge, a purge).
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new BadPath(`path over ${MAX_PATH_BYTES} bytes`);
  return { path, query };
}
