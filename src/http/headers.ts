// Small pure helpers over header values, shared by the HTTP rule modules.

export type HeaderMap = Record<string, string>;

/** RFC 9110 §5.1: the characters of a field name (a token), as a regular-expression class. */
export const FIELD_NAME_CHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/** RFC 9110 §5.5: the characters of a field value (visible, obs-text, space, tab), as a class. */
export const FIELD_VALUE_CHAR = '[\\t\\x20-\\x7e\\x80-\\xff]';

/** RFC 9111 §5.2: directives, lower-cased, with their (unquoted) values. */
export function parseCacheControl(value: string | undefined): Map<string, string> {
  const directives = new Map<string, string>();
  if (!value) return directives;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    const raw = eq === -1 ? '' : part.slice(eq + 1).trim();
    if (!directives.has(name)) directives.set(name, raw.replace(/^"(.*)"$/, '$1'));
  }
  return directives;
}

/**
 * The same directives with lower-case names (RFC 9111 §5.2: names are
 * case-insensitive), values untouched, for code that compares them as sent.
 */
export function normaliseCacheControl(value: string): string {
  return value
    .split(',')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
      return eq === -1 ? name : `${name}=${part.slice(eq + 1).trim()}`;
    })
    .filter(Boolean)
    .join(', ');
}

/** A delta-seconds directive value (RFC 9111 §1.2.2), or undefined when absent or invalid. */
export function deltaSeconds(directives: Map<string, string>, name: string): number | undefined {
  const raw = directives.get(name);
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Math.min(Number(raw), 2 ** 31);
}

/** RFC 9110 §5.6.7: an HTTP-date, in milliseconds; NaN when unparsable. */
export function parseHttpDate(value: string | undefined): number {
  if (!value) return Number.NaN;
  return Date.parse(value);
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

let dateSecond = -1;
let dateText = '';

/** The Date field's text for now, made at most once a second. */
export function httpDateNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = httpDate(now);
  }
  return dateText;
}

/** RFC 9112 §3.2: a request with more than one Host line is refused (Node's parser keeps the first). */
export function hasRepeatedHost(rawHeaders: readonly string[]): boolean {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) return true;
  }
  return false;
}
