// RFC 9110 §14: one byte range of a representation of known length.

export type RangeDecision =
  | { readonly kind: 'whole' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

const WHOLE: RangeDecision = { kind: 'whole' };

/**
 * A single `bytes=` range against `size`. Anything this cache does not answer
 * with a slice (other units, several ranges, bad syntax) is served whole,
 * which §14.2 allows: a server MAY ignore the Range header field.
 */
export function parseRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return WHOLE;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return WHOLE;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return WHOLE;
  if (first === '') {
    // §14.1.3 suffix range: the last N bytes; N = 0 selects nothing.
    const suffix = Number(last);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    // §14.1.1: the one satisfiable range of an empty representation: all of it.
    if (size === 0) return WHOLE;
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  // A start past 2^53 is inexact, but past the end of any object all the same.
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return WHOLE; // §14.1.1: invalid, so ignored
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}
