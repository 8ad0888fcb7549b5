// Parsers for the value syntaxes options share. Each throws an Error whose
// message completes the sentence "<value> ..."; config.ts adds the option name.

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** "512MiB", "10GiB", "1.5GB" or plain bytes → a whole number of bytes. */
export function parseSize(value: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new Error('is not a size (try 512MiB, 10GiB or plain bytes)');
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new Error('is too large');
  if (bytes < min) throw new Error(`is below the minimum of ${min} bytes`);
  if (bytes > max) throw new Error(`is above the maximum of ${max} bytes`);
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** Plain seconds, or with a unit: "90s", "5m", "1h", "7d". */
export function parseSeconds(value: string): number {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(value);
  if (!match) throw new Error('is not a duration in seconds (try 3600 or 1h)');
  const seconds = Number(match[1]) * DURATION_UNITS[match[2]!]!;
  if (!Number.isSafeInteger(seconds)) throw new Error('is too large');
  return seconds;
}

export function parseInteger(value: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new Error('is not a whole number');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`is not between ${min} and ${max}`);
  return n;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** "HOST:PORT", "[::1]:PORT" or ":PORT" (all interfaces). */
export function parseHostPort(value: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]*)):(\d+)$/.exec(value.trim());
  if (!match) throw new Error('is not HOST:PORT');
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port > 65535) throw new Error('has a port outside 0..65535');
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

/** Any absolute URL; the caller checks its scheme and parts. */
export function parseUrl(value: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new Error('is not a URL');
  }
}
