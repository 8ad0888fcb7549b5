// Targeted cache control (RFC 9213): which response directives this edge
// obeys. Imgedge-Cache-Control, then CDN-Cache-Control, each a Structured
// Field Dictionary (RFC 8941 §3.2); the first one present and valid replaces
// Cache-Control and Expires for the edge. When neither is usable,
// Cache-Control is read as RFC 9111 §5.2 has it.
import { parseCacheControl, type HeaderMap } from './headers.js';

/** The fields this edge reads, most specific first (RFC 9213 §2.1's target list). */
export const TARGETED_FIELDS = ['imgedge-cache-control', 'cdn-cache-control'] as const;

export interface EdgeDirectives {
  /** Directive names, lower case, with their values as Cache-Control's parser gives them. */
  readonly directives: Map<string, string>;
  /** From a targeted field: Cache-Control and Expires do not count (RFC 9213 §2.2). */
  readonly targeted: boolean;
}

/** The directives that decide this edge's caching of a response. */
export function edgeDirectives(headers: HeaderMap): EdgeDirectives {
  for (const name of TARGETED_FIELDS) {
    const value = headers[name];
    const directives = value === undefined ? null : targetedDirectives(value);
    if (directives) return { directives, targeted: true };
  }
  return { directives: parseCacheControl(headers['cache-control']), targeted: false };
}

// RFC 9213 §2.1: these take an Integer, these a Boolean; anything else is an
// extension and may take any value.
const INTEGER_DIRECTIVES = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);
const BOOLEAN_DIRECTIVES = new Set([
  'no-store', 'no-cache', 'private', 'public', 'must-revalidate', 'proxy-revalidate', 'immutable', 'must-understand', 'no-transform',
]);

/**
 * A targeted field's directives, or null when it is empty, not a valid
 * Dictionary, or gives a known directive a value of the wrong type: such a
 * field is ignored whole (RFC 9213 §2.1).
 */
export function targetedDirectives(value: string): Map<string, string> | null {
  const dictionary = parseDictionary(value);
  if (!dictionary || dictionary.size === 0) return null;
  const directives = new Map<string, string>();
  for (const [name, item] of dictionary) {
    if (INTEGER_DIRECTIVES.has(name)) {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < 0) return null;
      directives.set(name, String(item));
    } else if (BOOLEAN_DIRECTIVES.has(name)) {
      if (item !== true) return null;
      directives.set(name, '');
    } else {
      directives.set(name, item === true ? '' : String(item));
    }
  }
  return directives;
}

type BareItem = number | string | boolean;

/**
 * RFC 8941 §4.2.2, enough of it to tell a valid Dictionary from anything
 * else: members with Integer, Decimal, String, Token, Byte Sequence or
 * Boolean values, or Inner Lists (kept as their text), and parameters
 * (checked, then dropped). A later member with the same key replaces an
 * earlier one.
 */
export function parseDictionary(text: string): Map<string, BareItem> | null {
  const p = { s: text, i: 0 };
  const out = new Map<string, BareItem>();
  skip(p, /[ \t]/);
  if (p.i === p.s.length) return out;
  for (;;) {
    const key = parseKey(p);
    if (key === null) return null;
    let value: BareItem | null = true;
    if (p.s[p.i] === '=') {
      p.i++;
      value = p.s[p.i] === '(' ? parseInnerList(p) : parseBareItem(p);
      if (value === null) return null;
    }
    if (!parseParameters(p)) return null;
    out.set(key, value);
    skip(p, /[ \t]/);
    if (p.i === p.s.length) return out;
    if (p.s[p.i] !== ',') return null;
    p.i++;
    // A trailing comma leaves no key to read: an error.
    skip(p, /[ \t]/);
  }
}

interface Cursor {
  readonly s: string;
  i: number;
}

function skip(p: Cursor, chars: RegExp): void {
  // charAt is "" past the end, which no class matches.
  while (chars.test(p.s.charAt(p.i))) p.i++;
}

function take(p: Cursor, pattern: RegExp): string | null {
  const m = pattern.exec(p.s.slice(p.i));
  if (!m) return null;
  p.i += m[0].length;
  return m[0];
}

function parseKey(p: Cursor): string | null {
  return take(p, /^[a-z*][a-z0-9_\-.*]*/);
}

function parseBareItem(p: Cursor): BareItem | null {
  // Each kind starts with its own character, so at most one of these takes
  // anything; when none does, there is no item (null).
  // A Decimal has at most 12 digits before the point and 3 after, an Integer
  // 15. A longer number leaves a digit or point after what is taken, where
  // every caller wants a separator: the whole is refused.
  const number = take(p, /^-?(?:\d{1,12}\.\d{1,3}|\d{1,15})/);
  if (number !== null) return Number(number);
  const boolean = take(p, /^\?[01]/);
  if (boolean !== null) return boolean === '?1';
  const string = take(p, /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"/);
  if (string !== null) return string.slice(1, -1).replace(/\\(["\\])/g, '$1');
  return take(p, /^:[A-Za-z0-9+/=]*:/) ?? take(p, /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/);
}

function parseInnerList(p: Cursor): string | null {
  const start = p.i;
  p.i++;
  for (;;) {
    skip(p, / /);
    if (p.s[p.i] === ')') {
      p.i++;
      return parseParameters(p) ? p.s.slice(start, p.i) : null;
    }
    if (parseBareItem(p) === null || !parseParameters(p)) return null;
    if (p.s[p.i] !== ' ' && p.s[p.i] !== ')') return null;
  }
}

function parseParameters(p: Cursor): boolean {
  while (p.s[p.i] === ';') {
    p.i++;
    skip(p, / /);
    if (parseKey(p) === null) return false;
    if (p.s[p.i] === '=') {
      p.i++;
      if (parseBareItem(p) === null) return false;
    }
  }
  return true;
}
