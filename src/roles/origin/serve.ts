// GET and HEAD of a stored file: strong ETag (the content's hash),
// Last-Modified, Cache-Control, single byte ranges and conditionals. The file
// is opened first and everything is taken from that one open file, so an
// upload renamed over it meanwhile is never mixed into the answer.
import type http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { NotFound } from '../../errors.js';
import { planAnswer } from './answer.js';
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
    const plan = planAnswer(req, {
      size: version.size,
      etag: version.etag,
      lastModified: new Date(version.mtimeMs),
      contentType: sniffImage(version.head) ?? TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    }, maxAgeSec);
    res.writeHead(plan.status, plan.headers);
    if (plan.status === 304 || !plan.body) {
      res.end();
      return;
    }
    streaming = true;
    await pipeline(handle.createReadStream({ start: plan.start, end: plan.end }), res);
  } finally {
    // The read stream closes the handle it was given; otherwise it is ours to close.
    if (!streaming) await handle.close();
  }
}
