// The head of the origin's answer to a GET or HEAD of one version of a file,
// wherever the file lives (a directory, a bucket): conditionals (304), If-Range
// and a single byte range (206, 416), or the whole. Pure: the caller reads the
// version first, then streams the bytes this plan names.
import type http from 'node:http';
import { parseRange, contentRange } from '../../http/range.js';
import { ifRangeHolds, isNotModified } from '../../http/conditional.js';
import type { HeaderMap } from '../../http/headers.js';
import { RangeNotSatisfiable } from '../../errors.js';

export interface VersionHead {
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
  readonly contentType: string;
}

export type AnswerPlan =
  | { readonly status: 304; readonly headers: HeaderMap }
  | { readonly status: 200 | 206; readonly headers: HeaderMap; readonly start: number; readonly end: number; readonly body: boolean };

/** Throws RangeNotSatisfiable for a range past the end. */
export function planAnswer(req: http.IncomingMessage, version: VersionHead, maxAgeSec: number): AnswerPlan {
  const headers: HeaderMap = {
    'content-type': version.contentType,
    etag: version.etag,
    'last-modified': version.lastModified.toUTCString(),
    'cache-control': `public, max-age=${maxAgeSec}`,
    'accept-ranges': 'bytes',
  };
  if (isNotModified(req.headers as HeaderMap, headers)) return { status: 304, headers };
  // RFC 9110 §13.1.5: a range of another version than the client holds is the whole file.
  const range = ifRangeHolds(req.headers['if-range'] as string | undefined, headers) ? parseRange(req.headers.range, version.size) : { kind: 'whole' as const };
  if (range.kind === 'unsatisfiable') throw new RangeNotSatisfiable(version.size);
  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, version.size - 1];
  if (range.kind === 'partial') headers['content-range'] = contentRange(start, end, version.size);
  headers['content-length'] = String(version.size === 0 ? 0 : end - start + 1);
  return { status: range.kind === 'partial' ? 206 : 200, headers, start, end, body: req.method !== 'HEAD' && version.size > 0 };
}
