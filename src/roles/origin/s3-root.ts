// The origin's files in a bucket of an S3-compatible store (AWS S3, MinIO,
// Ceph RGW), so that any number of origin replicas serve one set of files.
// An upload's first bytes are read and checked before anything is sent; the
// rest streams through a counter into @aws-sdk/lib-storage's Upload, which
// holds at most a part or two in memory and completes the object only at the
// end, so an upload refused midway (too large, cut off) is never visible.
// Each acknowledged write is then appended to the change log on Redis; the
// bucket's own ETag (an MD5, or MD5-parts for a multipart upload: either
// names one content) is the strong ETag. An edge's miss that says how far it
// has read that log is answered from one bucket read shared with the other
// edges that ask (shared-reads.ts), once this replica has read as far.
import type http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client, HeadObjectCommand, GetObjectCommand, DeleteObjectCommand, type GetObjectCommandOutput, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BadPath, BucketUnavailable, ImgedgeError, NotFound, PayloadTooLarge, UnsupportedMediaType } from '../../errors.js';
import { planAnswer, type VersionHead } from './answer.js';
import type { ChangeEntry, ChangeLog } from '../../changelog/log.js';
import type { ChangeAppender } from './store.js';
import type { S3Settings } from '../../config.js';
import { segmentsOf, type OriginRoot } from './root.js';
import { sniffImage, SNIFF_BYTES } from './sniff.js';
import { SharedBody, SharedReads, type SharedReadLimits } from './shared-reads.js';
import { ChangeTail } from './change-tail.js';
import type { ChangeFeed, FeedEntry } from '../../changelog/feed.js';
import { LOG_POSITION_HEADER, parseLogPoint } from '../../changelog/log-point.js';

const PART_BYTES = 5 * 1024 * 1024;
const SHARED_READS: SharedReadLimits = { maxBytes: 64 * 1024 * 1024, maxObjectBytes: 4 * 1024 * 1024 };

/** What a shared read is held under: the path an entry names ('/dir/' is its index.html). */
function sharedName(canonicalPath: string): string {
  return canonicalPath.endsWith('/') ? `${canonicalPath}index.html` : canonicalPath;
}

/** The version a bucket's HEAD or GET describes. */
function versionOf(object: Pick<HeadObjectCommandOutput, 'ContentLength' | 'LastModified' | 'ContentType'>, etag: string): VersionHead {
  return {
    size: object.ContentLength ?? 0,
    etag,
    lastModified: object.LastModified ?? new Date(0),
    contentType: object.ContentType ?? 'application/octet-stream',
  };
}

/** No range and no condition: the whole current version, whatever it is. */
function isPlainGet(req: http.IncomingMessage): boolean {
  const h = req.headers;
  return req.method === 'GET' && h.range === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['if-range'] === undefined;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** Reads from a body until `bytes` are in hand or it ends; what was read, and the body to read the rest from. */
async function readHead(body: Readable, bytes: number): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const rest = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const { value, done } = await rest.next();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  return { head: Buffer.concat(chunks), rest };
}

export class S3Root implements OriginRoot {
  readonly fileLog: ChangeLog | null = null;
  readonly #client: S3Client;
  readonly #shared = new SharedReads(SHARED_READS);
  readonly #tail: ChangeTail;

  /** `changes` reads the log `appender` appends to; `tailFailed` hears when reading it fails. */
  constructor(
    private readonly location: S3Settings,
    private readonly appender: ChangeAppender,
    changes: ChangeFeed,
    tailFailed: (error: Error) => void,
  ) {
    const shared = this.#shared;
    this.#tail = new ChangeTail(changes, {
      changed(entry: FeedEntry) {
        if (entry.unusable) shared.clear();
        else if (entry.prefix) shared.dropWhere((name) => name.startsWith(entry.path));
        else shared.drop(entry.path);
      },
      lost: () => shared.clear(),
    }, tailFailed);
    this.#tail.start();
    this.#client = new S3Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint.href, forcePathStyle: true } : {}),
      ...(location.credentials ? { credentials: location.credentials } : {}),
      // Checksums only where S3 requires them: MinIO, Ceph RGW and older
      // stores refuse the aws-chunked trailers the SDK sends by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  get describe(): string {
    const { bucket, prefix, endpoint } = this.location;
    return `s3://${bucket}${prefix ? `/${prefix}` : ''}${endpoint ? ` at ${endpoint.origin}` : ''}`;
  }

  get log(): ChangeLog {
    throw new Error('an origin on a bucket appends its changes to Redis and keeps no file log');
  }

  #key(canonicalPath: string): string {
    const segments = segmentsOf(canonicalPath);
    if (canonicalPath.endsWith('/')) segments.push('index.html');
    if (segments.length === 0) throw new BadPath('no file named');
    return this.location.prefix ? `${this.location.prefix}/${segments.join('/')}` : segments.join('/');
  }

  /** The object's head; null when there is none. */
  async #head(key: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.#client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key }));
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw new BucketUnavailable((error as Error).message);
    }
  }

  async put(canonicalPath: string, body: Readable, maxBytes: number): Promise<{ created: boolean; entry: ChangeEntry }> {
    if (canonicalPath.endsWith('/')) throw new BadPath('a file path may not end with /');
    const key = this.#key(canonicalPath);
    const { head, rest } = await readHead(body, SNIFF_BYTES);
    const type = sniffImage(head.subarray(0, SNIFF_BYTES));
    if (!type) throw new UnsupportedMediaType();
    if (head.length > maxBytes) throw new PayloadTooLarge(maxBytes);
    const existed = (await this.#head(key)) !== null;
    let refused: ImgedgeError | null = null;
    async function* counted(): AsyncGenerator<Buffer> {
      let size = head.length;
      yield head;
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        size += next.value.length;
        if (size > maxBytes) throw (refused = new PayloadTooLarge(maxBytes));
        yield next.value;
      }
    }
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.location.bucket, Key: key, Body: Readable.from(counted()), ContentType: type },
      partSize: PART_BYTES,
      queueSize: 2,
      leavePartsOnError: false,
    });
    let etag: string | undefined;
    try {
      etag = (await upload.done()).ETag;
    } catch (error) {
      if (refused) throw refused;
      if (error instanceof ImgedgeError) throw error;
      // The uploader going away is not the bucket's fault; either way nothing was stored.
      if (body.destroyed && !body.readableEnded) throw new BucketUnavailable('the upload was cut off');
      throw new BucketUnavailable((error as Error).message);
    }
    if (!etag) throw new BucketUnavailable('the bucket gave the object no ETag');
    return { created: !existed, entry: await this.appender.append({ op: 'put', path: canonicalPath, etag }) };
  }

  async delete(canonicalPath: string): Promise<ChangeEntry | null> {
    const key = this.#key(canonicalPath);
    if (!(await this.#head(key))) {
      // Appended all the same: a DELETE retried after a 503 (object gone, entry not appended) still reaches the edges.
      await this.appender.append({ op: 'delete', path: canonicalPath });
      return null;
    }
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: key }));
    } catch (error) {
      throw new BucketUnavailable((error as Error).message);
    }
    return this.appender.append({ op: 'delete', path: canonicalPath });
  }

  async serve(canonicalPath: string, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number): Promise<void> {
    const key = this.#key(canonicalPath);
    if (isPlainGet(req)) return this.#serveWhole(key, sharedName(canonicalPath), req, res, maxAgeSec);
    // Replaced between the head and the body (the GET is made If-Match): ask again, a few times.
    for (let attempt = 0; ; attempt++) {
      const head = await this.#head(key);
      if (!head?.ETag) throw new NotFound();
      const plan = planAnswer(req, versionOf(head, head.ETag), maxAgeSec);
      if (plan.status === 304 || !plan.body) {
        res.writeHead(plan.status, plan.headers).end();
        return;
      }
      let body: Readable;
      try {
        const got = await this.#client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key, Range: `bytes=${plan.start}-${plan.end}`, IfMatch: head.ETag }));
        body = got.Body as Readable;
        // A store that ignores If-Match (s3rver does) answers with the new object's bytes under the old head: ask again.
        if (got.ETag !== head.ETag) {
          body.destroy();
          if (attempt < 3) continue;
          throw new BucketUnavailable('the object kept changing while it was read');
        }
      } catch (error) {
        const status = statusOf(error);
        if ((status === 412 || status === 404) && attempt < 3) continue;
        if (status === 404) throw new NotFound();
        throw new BucketUnavailable((error as Error).message);
      }
      res.writeHead(plan.status, plan.headers);
      await pipeline(body, res);
      return;
    }
  }

  /**
   * A plain GET (an edge's miss) is one request to the bucket, or none: an
   * edge that has read the log no further than this replica joins a read of
   * the object under way or held, and begins one for those after it.
   */
  async #serveWhole(key: string, name: string, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number): Promise<void> {
    const asker = parseLogPoint(req.headers[LOG_POSITION_HEADER]);
    if (asker && this.#tail.hasReached(asker)) {
      // With its Age, a read handed out later expires at the edge when a fresh read would have then: not later.
      const under = this.#shared.find(name, maxAgeSec * 1000);
      if (under) {
        const body = await under;
        if (body) return this.#answerShared(body, req, res, maxAgeSec);
      } else {
        const got = this.#get(key);
        const { maxObjectBytes } = this.#shared.limits;
        const body = got.then((o) => (o.ETag && (o.ContentLength ?? Infinity) <= maxObjectBytes ? new SharedBody(versionOf(o, o.ETag), o.Body as Readable) : null));
        this.#shared.begin(name, body);
        const shared = await body;
        return shared ? this.#answerShared(shared, req, res, maxAgeSec) : this.#answer(await got, req, res, maxAgeSec);
      }
    }
    return this.#answer(await this.#get(key), req, res, maxAgeSec);
  }

  async #get(key: string): Promise<GetObjectCommandOutput> {
    try {
      return await this.#client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key }));
    } catch (error) {
      if (statusOf(error) === 404) throw new NotFound();
      throw new BucketUnavailable((error as Error).message);
    }
  }

  /** The answer's head is the version whose bytes follow. */
  async #answer(got: GetObjectCommandOutput, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number): Promise<void> {
    const body = got.Body as Readable;
    if (!got.ETag) {
      body.destroy();
      throw new NotFound();
    }
    const plan = planAnswer(req, versionOf(got, got.ETag), maxAgeSec);
    if (plan.status === 304 || !plan.body) {
      body.destroy();
      res.writeHead(plan.status, plan.headers).end();
      return;
    }
    res.writeHead(plan.status, plan.headers);
    await pipeline(body, res);
  }

  /** As a cache answers (RFC 9111 §5.1): with the Age of the bucket's answer it passes on. */
  async #answerShared(shared: SharedBody, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number): Promise<void> {
    const plan = planAnswer(req, shared.version, maxAgeSec);
    plan.headers.age = String(Math.floor((performance.now() - shared.answeredAt) / 1000));
    if (plan.status === 304 || !plan.body) {
      res.writeHead(plan.status, plan.headers).end();
      return;
    }
    res.writeHead(plan.status, plan.headers);
    await pipeline(shared.reader(), res);
  }

  async close(): Promise<void> {
    await this.#tail.stop();
    this.#shared.clear();
    this.#client.destroy();
    await this.appender.close();
  }
}
