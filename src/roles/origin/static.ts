// Read-only file serving the way an origin should: strong ETag (content
// hash), Last-Modified, Cache-Control, single byte ranges and conditionals.
// Request paths are normalised and decoded segment by segment, then joined
// under the root; a result outside the root is refused before any file call.
import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { normaliseTarget } from '../../http/path.js';
import { parseRange, contentRange } from '../../http/range.js';
import { isNotModified } from '../../http/conditional.js';
import type { HeaderMap } from '../../http/headers.js';
import { ImgedgeError } from '../../errors.js';

const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp',
  '.avif': 'image/avif', '.gif': 'image/gif', '.svg': 'image/svg+xml', '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
};

interface FileInfo {
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly etag: string;
}

/** Maps a request target to a file under root, or throws. */
export function fileFor(root: string, target: string): string {
  const { path: canonical } = normaliseTarget(target);
  const segments = canonical.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  const file = path.join(root, ...segments);
  const relative = path.relative(root, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) throw new Error('outside the root');
  return file;
}

export function createStaticHandler(rootDir: string, { maxAgeSec }: { maxAgeSec: number }) {
  const root = path.resolve(rootDir);
  const etags = new Map<string, { size: number; mtimeMs: number; etag: string }>();

  async function info(file: string): Promise<FileInfo | null> {
    const stat = await fsp.stat(file).catch(() => null);
    if (!stat?.isFile()) return null;
    const known = etags.get(file);
    if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return { file, ...known };
    const hash = createHash('sha256');
    await pipeline(fs.createReadStream(file), hash);
    const etag = `"${hash.digest('base64url').slice(0, 32)}"`;
    etags.set(file, { size: stat.size, mtimeMs: stat.mtimeMs, etag });
    return { file, size: stat.size, mtimeMs: stat.mtimeMs, etag };
  }

  return async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      let file: string;
      try {
        file = fileFor(root, req.url ?? '/');
      } catch (error) {
        const status = error instanceof ImgedgeError ? error.status : 400;
        res.writeHead(status, { 'content-type': 'text/plain' }).end('bad path\n');
        return;
      }
      if (file.endsWith(path.sep) || (req.url ?? '').split('?')[0]!.endsWith('/')) file = path.join(file, 'index.html');
      const found = await info(file);
      if (!found) {
        res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=10' }).end('not found\n');
        return;
      }
      const headers: HeaderMap = {
        'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        etag: found.etag,
        'last-modified': new Date(found.mtimeMs).toUTCString(),
        'cache-control': `public, max-age=${maxAgeSec}`,
        'accept-ranges': 'bytes',
      };
      if (isNotModified(req.headers as HeaderMap, headers)) {
        res.writeHead(304, headers).end();
        return;
      }
      const range = parseRange(req.headers.range, found.size);
      if (range.kind === 'unsatisfiable') {
        res.writeHead(416, { 'content-range': `bytes */${found.size}` }).end();
        return;
      }
      const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, found.size - 1];
      if (range.kind === 'partial') headers['content-range'] = contentRange(start, end, found.size);
      headers['content-length'] = String(found.size === 0 ? 0 : end - start + 1);
      res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
      if (req.method === 'HEAD' || found.size === 0) {
        res.end();
        return;
      }
      await pipeline(fs.createReadStream(file, { start, end }), res);
    } catch {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
      else res.destroy();
    }
  };
}
