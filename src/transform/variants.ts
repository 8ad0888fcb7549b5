// Where a variant's fill gets its bytes. To the cache a variant is an object
// like any other, fetched from an "origin"; this is that origin: it reads the
// source through the cache (pulled through and coalesced like any object),
// transforms it, and answers as an origin would, with validators and a
// lifetime derived from the source's, so the cache stores, serves,
// revalidates, evicts and purges the variant with no rule of its own.
//
// Freshness: a variant is fresh for at most what is left of its source's
// freshness when it is made. Its ETag is a hash of the source's ETag (or, if
// the source has none, of its bytes) and the transform, so a revalidation
// that finds the source unchanged answers 304 without transforming again.
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { Answer } from '../cache/answer.js';
import { derivedParts } from '../cache/key.js';
import type { HeaderMap } from '../http/headers.js';
import type { InterimListener, OriginFetcher, OriginResponse } from '../origin-client.js';
import { transformOf } from './params.js';
import { negotiateFormat } from './negotiate.js';
import { CONTENT_TYPES, type OutputFormat, type Pipeline } from './pipeline.js';
import { answerBytes } from './source-bytes.js';
import type { SourceFormat } from './sniff.js';

export interface SourceLookup {
  readonly key: string;
  readonly target: string;
  readonly headers: HeaderMap;
  readonly request: HeaderMap;
}

/** Reads a source through the cache: get(), or pass() for an authorised request. */
export type SourceReader = (lookup: SourceLookup) => Promise<Answer>;

/** Headers a variant's fill sends that are about the variant, not its source. */
const VARIANT_ONLY = new Set(['if-none-match', 'if-modified-since']);

export class VariantFetcher implements OriginFetcher {
  constructor(
    private readonly origin: OriginFetcher,
    private readonly source: SourceReader,
    private readonly pipeline: Pipeline,
  ) {}

  fetch(target: string, headers: HeaderMap, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse> {
    const parts = derivedParts(target);
    if (!parts) return this.origin.fetch(target, headers, signal, onInterim);
    return this.#variant(parts.source, parts.transform, headers);
  }

  async #variant(sourceKey: string, canonical: string, headers: HeaderMap): Promise<OriginResponse> {
    const transform = transformOf(canonical);
    const sourceHeaders: HeaderMap = {};
    for (const [name, value] of Object.entries(headers)) if (!VARIANT_ONLY.has(name)) sourceHeaders[name] = value;
    const answer = await this.source({ key: sourceKey, target: sourceKey, headers: sourceHeaders, request: sourceHeaders });
    if (answer.status !== 200) return passOn(answer, await answerBytes(answer, this.pipeline.limits.maxSourceBytes));

    let bytes: Buffer;
    let sourceFormat: SourceFormat;
    try {
      bytes = await answerBytes(answer, this.pipeline.limits.maxSourceBytes);
      sourceFormat = this.pipeline.sourceFormat(bytes);
    } catch (error) {
      this.pipeline.refused(error);
      throw error;
    }
    const auto = transform.format === 'auto';
    const chosen = auto ? negotiateFormat(headers.accept) : transform.format;
    const format: OutputFormat = chosen === undefined || chosen === 'source' ? sourceFormat : chosen;
    const etag = `"${createHash('sha256')
      .update(answer.headers.etag ?? createHash('sha256').update(bytes).digest('base64url'))
      .update(`\n${canonical}\n${format}`)
      .digest('base64url')
      .slice(0, 32)}"`;
    const common: HeaderMap = { etag, 'cache-control': variantCacheControl(answer) };
    if (answer.headers['last-modified']) common['last-modified'] = answer.headers['last-modified'];
    if (auto) common.vary = 'Accept';
    if (headers['if-none-match'] === etag) return { status: 304, headers: common, body: Readable.from([]) };

    const variant = await this.pipeline.run(bytes, transform, format);
    return {
      status: 200,
      headers: { ...common, 'content-type': CONTENT_TYPES[variant.format], 'content-length': String(variant.body.length) },
      body: Readable.from([variant.body]),
    };
  }
}

/**
 * What is left of the source's freshness bounds the variant's: a source
 * served stale, or not stored at all, makes a variant that is stale at once
 * (revalidated with the source on its next request) or not stored.
 */
function variantCacheControl(source: Answer): string {
  const parts = source.cacheStatus;
  if (parts.passed || (!parts.hit && !parts.stored)) return 'no-store';
  return `public, max-age=${Math.max(0, Math.floor(parts.ttl ?? 0))}`;
}

/** A source that is not a 200 (a 404, a redirect) is the variant's answer as it is. */
function passOn(answer: Answer, body: Buffer): OriginResponse {
  const headers: HeaderMap = { ...answer.headers, 'content-length': String(body.length) };
  return { status: answer.status, headers, body: Readable.from([body]) };
}
