// A request target → the key it is stored under and the target a fill
// fetches, for every path that computes one (the hit lane, the fast hit and
// the app): the one place transform parameters are read, checked against
// --allowed-widths, and their sig against --signing-key.
import { LRUCache } from 'lru-cache';
import { cacheKey, derivedKey } from '../cache/key.js';
import { BadSignature, BadTransform } from '../errors.js';
import { canonicalTransform, mayHoldTransform, parseImageQuery, type Transform } from './params.js';
import { verifySignature } from './sign.js';

export interface ImageRequestOptions {
  readonly signingKey?: string;
  readonly allowedWidths?: readonly number[];
}

export interface KeyedRequest {
  /** Where the object is stored; for a variant, also what its fill asks for. */
  readonly key: string;
  readonly transform: Transform | null;
}

/** Targets whose variant key a hit path remembers: a warm variant then costs a hit one lookup, not a parse and an HMAC. */
const REMEMBERED_TARGETS = 4096;

export class ImageRequests {
  readonly #hitKeys = new LRUCache<string, string>({ max: REMEMBERED_TARGETS });

  constructor(private readonly options: ImageRequestOptions = {}) {}

  /**
   * `rawPath` is the path as sent (what a sig covers), `path` its canonical
   * form, `query` as sent. Throws BadTransform or BadSignature.
   */
  resolve(rawPath: string, path: string, query: string): KeyedRequest {
    if (!mayHoldTransform(query)) return { key: cacheKey(path, query), transform: null };
    const { sourceQuery, transform, sig } = parseImageQuery(query);
    const source = cacheKey(path, sourceQuery);
    if (!transform) return { key: source, transform: null };
    const { signingKey, allowedWidths } = this.options;
    if (signingKey !== undefined) {
      if (!verifySignature(signingKey, rawPath, query, sig)) {
        throw new BadSignature(sig === undefined ? 'a transform needs a sig' : 'wrong sig');
      }
    } else if (sig !== undefined) {
      throw new BadTransform('sig', 'none: this edge has no signing key');
    }
    if (allowedWidths && transform.w !== undefined && !allowedWidths.includes(transform.w)) {
      throw new BadTransform('w', allowedWidths.join(', '));
    }
    return { key: derivedKey(source, canonicalTransform(transform)), transform };
  }

  /**
   * The key a hit path looks up for an already-canonical target, or null when
   * the request is the app's to answer (and refuse, if it is bad).
   */
  hitKey(path: string, query: string): string | null {
    if (!mayHoldTransform(query)) return cacheKey(path, query);
    const target = `${path}?${query}`;
    const known = this.#hitKeys.get(target);
    if (known !== undefined) return known;
    try {
      const { key } = this.resolve(path, path, query);
      // Only what resolved: a refused target is the app's to answer each time.
      this.#hitKeys.set(target, key);
      return key;
    } catch {
      return null;
    }
  }
}
