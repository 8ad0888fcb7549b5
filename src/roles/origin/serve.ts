// GET and HEAD of a stored file: strong ETag (the content's hash),
// Last-Modified, Cache-Control, single byte ranges and conditionals. The file
// is opened first and everything is taken from that one open file, so an
// upload renamed over it meanwhile is never mixed into the answer.
import type http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseRange, contentRange } from '../../http/range.js';
import { ifRangeHolds, isNotModified } from '../../http/conditional.js';
import type { HeaderMap } from '../../http/headers.js';
import { NotFound, RangeNotSatisfiable } from '../../errors.js';
import type { OriginStore } from './store.js';
import { sniffImage } from './sniff.js';

/** Files that are not images (the demo's page) are typed by extension. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

export async function serveFile(
  store: OriginStore, canonicalPath: string, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number,
): Promise<void> {
  let file = store.fileFor(canonicalPath);
  if (canonicalPath.endsWith('/')) file = path.join(file, 'index.html');
  const handle = await fsp.open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR' || error.code === 'EISDIR') return null;
    throw error;
  });
  if (!handle) throw new NotFound();
  let streaming = false;
  try {
    const version = await store.version(file, handle);
    if (!version) throw new NotFound();
    const headers: HeaderMap = {
      'content-type': sniffImage(version.head) ?? TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      etag: version.etag,
      'last-modified': new Date(version.mtimeMs).toUTCString(),
      'cache-control': `public, max-age=${maxAgeSec}`,
      'accept-ranges': 'bytes',
    };
    if (isNotModified(req.headers as HeaderMap, headers)) {
      res.writeHead(304, headers).end();
      return;
    }
    // RFC 9110 §13.1.5: a range of another version than the client holds is the whole file.
    const range = ifRangeHolds(req.headers['if-range'] as string | undefined, headers) ? parseRange(req.headers.range, version.size) : { kind: 'whole' as const };
    if (range.kind === 'unsatisfiable') throw new RangeNotSatisfiable(version.size);
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, version.size - 1];
    if (range.kind === 'partial') headers['content-range'] = contentRange(start, end, version.size);
    headers['content-length'] = String(version.size === 0 ? 0 : end - start + 1);
    res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
    if (req.method === 'HEAD' || version.size === 0) {
      res.end();
      return;
    }
    streaming = true;
    await pipeline(handle.createReadStream({ start, end }), res);
  } finally {
    // The read stream closes the handle it was given; otherwise it is ours to close.
    if (!streaming) await handle.close();
  }
}
