// The transform a request asks for, read from its query: w, h, fit, format, q
// (and sig, checked by sign.ts). Each parameter is validated by its own rule
// before anything is fetched or decoded; a bad one is a 400 naming it and
// what it allows. Every other parameter stays the source's, as sent.
import { BadTransform } from '../errors.js';

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export const FORMATS = ['auto', 'webp', 'avif', 'jpeg', 'png'] as const;
export type Fit = (typeof FITS)[number];
export type FormatParam = (typeof FORMATS)[number];

export const MAX_DIMENSION = 8192;

export interface Transform {
  readonly w?: number;
  readonly h?: number;
  readonly fit?: Fit;
  readonly format?: FormatParam;
  readonly q?: number;
}

export interface ImageQuery {
  /** The source's own query: every parameter that is not a transform's, as sent, in order. */
  readonly sourceQuery: string;
  /** Null when the request names no transform parameter. */
  readonly transform: Transform | null;
  readonly sig: string | undefined;
}

/** Names a query may hold that belong to the edge, never the origin. */
const RESERVED = new Set(['w', 'h', 'fit', 'format', 'q', 'sig']);
/** A cheap look, without decoding, for queries that may hold one (a "%" may hide one too). */
const MAY_HOLD_RESERVED = /(?:^|&)(?:w|h|fit|format|q|sig)(?:[=&]|$)|%/;

function integer(name: string, raw: string, max: number): number {
  if (!/^[1-9][0-9]{0,5}$/.test(raw) || Number(raw) > max) {
    throw new BadTransform(name, `an integer from 1 to ${max}`);
  }
  return Number(raw);
}

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw new BadTransform(name, allowed.join(', '));
  return raw as T;
}

function decodePart(raw: string): string | null {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** False when a query certainly holds no transform parameter (most do not): no parse needed. */
export function mayHoldTransform(query: string): boolean {
  return query !== '' && MAY_HOLD_RESERVED.test(query);
}

/** Splits a query into the source's part and the transform; throws BadTransform. */
export function parseImageQuery(query: string): ImageQuery {
  if (!mayHoldTransform(query)) return { sourceQuery: query, transform: null, sig: undefined };
  const kept: string[] = [];
  const found = new Map<string, string>();
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const name = decodePart(eq === -1 ? part : part.slice(0, eq));
    if (name === null || !RESERVED.has(name)) {
      if (part) kept.push(part);
      continue;
    }
    const value = eq === -1 ? '' : decodePart(part.slice(eq + 1));
    if (found.has(name)) throw new BadTransform(name, 'one value (it was given twice)');
    found.set(name, value ?? '');
  }
  const sourceQuery = kept.join('&');
  const sig = found.get('sig');
  found.delete('sig');
  if (found.size === 0) {
    if (sig !== undefined) throw new BadTransform('sig', 'only beside transform parameters');
    // No transform: the query is the source's exactly as sent, as for any object.
    return { sourceQuery: query, transform: null, sig };
  }
  const raw = (name: string) => found.get(name);
  const t: { -readonly [K in keyof Transform]: Transform[K] } = {};
  if (raw('w') !== undefined) t.w = integer('w', raw('w')!, MAX_DIMENSION);
  if (raw('h') !== undefined) t.h = integer('h', raw('h')!, MAX_DIMENSION);
  if (raw('fit') !== undefined) t.fit = oneOf('fit', raw('fit')!, FITS);
  if (raw('format') !== undefined) t.format = oneOf('format', raw('format')!, FORMATS);
  if (raw('q') !== undefined) t.q = integer('q', raw('q')!, 100);
  return { sourceQuery, transform: t, sig };
}

/**
 * The transform in one order and one spelling, so that every way of asking
 * for one variant names one stored object. `fit` counts only with both
 * sides given, and its default (cover) is left out.
 */
export function canonicalTransform(t: Transform): string {
  const parts: string[] = [];
  const fit = t.w !== undefined && t.h !== undefined && t.fit !== undefined && t.fit !== 'cover' ? t.fit : undefined;
  if (fit) parts.push(`fit=${fit}`);
  if (t.format) parts.push(`format=${t.format}`);
  if (t.h !== undefined) parts.push(`h=${t.h}`);
  if (t.q !== undefined) parts.push(`q=${t.q}`);
  if (t.w !== undefined) parts.push(`w=${t.w}`);
  // A lone fit (or fit=cover) still asks for a re-encoded copy: keep it named.
  return parts.length ? parts.join('&') : 'fit=cover';
}

/** The transform a canonical spelling names (what a variant's key carries). */
export function transformOf(canonical: string): Transform {
  const parsed = parseImageQuery(canonical).transform;
  if (!parsed) throw new BadTransform('format', 'a transform');
  return parsed;
}
