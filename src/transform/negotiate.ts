// format=auto: the best format this client says it takes (RFC 9110 §12.5.1),
// AVIF first, then WebP, else the source's own. Only an explicit media type
// counts: "*/*" and "image/*" say nothing about what a browser decodes.

export type Negotiated = 'avif' | 'webp' | 'source';

function weights(accept: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const member of accept.split(',')) {
    const [type, ...params] = member.split(';').map((p) => p.trim().toLowerCase());
    if (!type) continue;
    let q = 1;
    for (const param of params) {
      const m = /^q=([0-9.]+)$/.exec(param);
      if (m) q = Number(m[1]);
    }
    if (!Number.isNaN(q)) found.set(type, Math.max(found.get(type) ?? 0, q));
  }
  return found;
}

/** What format=auto gives a request with this Accept. */
export function negotiateFormat(accept: string | undefined): Negotiated {
  if (!accept) return 'source';
  const w = weights(accept);
  if ((w.get('image/avif') ?? 0) > 0) return 'avif';
  if ((w.get('image/webp') ?? 0) > 0) return 'webp';
  return 'source';
}

/**
 * Accept reduced to the choice it makes, for keying what varies on it:
 * however many ways browsers spell it, a variant is stored at most three
 * times (RFC 9111 §4.1 allows normalising values that select alike).
 */
export function acceptVaryKey(value: string | undefined): string {
  return negotiateFormat(value);
}
