// PUT and DELETE: the writes uploaders make, each behind the bearer token.
// A declared length over the limit is refused before a byte is read; an
// undeclared one is counted while it streams. `Expect: 100-continue` is
// answered only once the token and the length have been checked.
import type http from 'node:http';
import { tokenMatches } from '../../edge/admin.js';
import { BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized } from '../../errors.js';
import type { OriginRoot } from './root.js';
import type { ChangeEntry } from '../../changelog/log.js';

export interface WriteRules {
  readonly uploadToken: string | undefined;
  readonly maxUploadBytes: number;
}

function authorise(req: http.IncomingMessage, rules: WriteRules): void {
  if (!rules.uploadToken) throw new Forbidden('writes are disabled: start the origin with --upload-token');
  if (!tokenMatches(req.headers.authorization, rules.uploadToken)) throw new Unauthorized();
}

export async function handleWrite(
  store: OriginRoot, canonicalPath: string, req: http.IncomingMessage, res: http.ServerResponse, rules: WriteRules,
): Promise<ChangeEntry> {
  authorise(req, rules);
  if (req.method === 'DELETE') {
    const entry = await store.delete(canonicalPath);
    if (!entry) throw new NotFound();
    res.writeHead(204, { 'x-imgedge-seq': String(entry.seq) }).end();
    return entry;
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > rules.maxUploadBytes) throw new PayloadTooLarge(rules.maxUploadBytes);
  if (req.headers['content-encoding'] !== undefined && req.headers['content-encoding'] !== 'identity') {
    throw new BadRequest('Content-Encoding is not accepted: send the image bytes as they are');
  }
  if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
  const { created, entry } = await store.put(canonicalPath, req, rules.maxUploadBytes);
  res.writeHead(created ? 201 : 204, {
    etag: entry.etag!,
    'x-imgedge-seq': String(entry.seq),
    ...(created ? { location: canonicalPath } : {}),
  }).end();
  return entry;
}
