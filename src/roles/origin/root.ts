// What the origin's handler needs of where files live: a directory (store.ts)
// or a bucket of an S3-compatible store (s3-root.ts). Both take writes whole
// or not at all and report each acknowledged write's change-log entry.
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type { ChangeEntry, ChangeLog } from '../../changelog/log.js';
import { RESERVED_SEGMENT } from '../../changelog/wire.js';
import { BadPath } from '../../errors.js';

export interface OriginRoot {
  /** For logs. */
  readonly describe: string;
  /** The file log served at /.imgedge/changes; null when changes go to Redis. */
  readonly fileLog: ChangeLog | null;
  /** The file log where there is one; throws otherwise (for tools and tests that know there is). */
  readonly log: ChangeLog;
  put(canonicalPath: string, body: Readable, maxBytes: number): Promise<{ created: boolean; entry: ChangeEntry }>;
  /** null when there was nothing at the path. */
  delete(canonicalPath: string): Promise<ChangeEntry | null>;
  /** GET and HEAD: strong ETag, Last-Modified, Cache-Control, a single range, conditionals. */
  serve(canonicalPath: string, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The names under a root of a request path: its segments decoded, refused
 * before any storage call when one could climb out ('.', '..', a slash or a
 * backslash inside) or names the origin's own .imgedge/.
 */
export function segmentsOf(canonicalPath: string): string[] {
  const segments = canonicalPath.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  if (segments[0] === RESERVED_SEGMENT) throw new BadPath('reserved path');
  if (segments.some((s) => s.includes('/') || s.includes('\\') || s === '..' || s === '.')) throw new BadPath('bad segment');
  return segments;
}
