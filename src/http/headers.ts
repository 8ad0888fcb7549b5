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

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY = '(?:mon|tue|wed|thu|fri|sat|sun)';
const DAY_LONG = '(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// The three forms RFC 9110 §5.6.7 says a recipient must accept, and nothing
// else: Date.parse would take "UTC", a missing comma, dashes or a one-digit
// hour, which §5.6.7 makes invalid (and RFC 9111 §5.3 then reads as the past).
// Names are matched in any case, as every cache the suite tests does.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC850_DATE = new RegExp(`^${DAY_LONG}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');

function utc(year: number, month: string, day: string, hour: string, minute: string, second: string): number {
  // Number reads asctime's space-padded day (" 8") as 8.
  const [d, h, m, s] = [Number(day), Number(hour), Number(minute), Number(second)];
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  // A leap second (60) is allowed by the grammar; Date.UTC rolls it over.
  if (d < 1 || d > 31 || h > 23 || m > 59 || s > 60) return Number.NaN;
  const ms = Date.UTC(year, monthIndex, d, h, m, s);
  // 31 Feb and friends: Date.UTC would roll them into the next month.
  return new Date(ms).getUTCDate() === d || s === 60 ? ms : Number.NaN;
}

/**
 * RFC 9110 §5.6.7: an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms), in milliseconds; NaN when it is none of them. `now` places
 * an RFC 850 two-digit year: one more than 50 years ahead is in the past.
 */
export function parseHttpDate(value: string | undefined, now: number = Date.now()): number {
  if (!value) return Number.NaN;
  const text = value.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1]!, m[2]!, m[3]!, m[4]!, m[5]!);
  m = RFC850_DATE.exec(text);
  if (!m) return Number.NaN;
  const thisYear = new Date(now).getUTCFullYear();
  let year = thisYear - (thisYear % 100) + Number(m[3]);
  if (year > thisYear + 50) year -= 100;
  return utc(year, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
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
