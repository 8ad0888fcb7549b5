// Every error the product throws on purpose, each with the HTTP status and the
// stable code it becomes. edge/app.ts is the one place they turn into answers.

export class ImgedgeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request target the edge refuses to map to a cache key (RFC 9110 §15.5.1). */
export class BadPath extends ImgedgeError {
  constructor(reason: string) {
    super(400, 'BAD_PATH', reason);
  }
}

export class MethodNotAllowed extends ImgedgeError {
  constructor(readonly allow: string) {
    super(405, 'METHOD_NOT_ALLOWED', 'only GET and HEAD are served here');
  }
}

export class RangeNotSatisfiable extends ImgedgeError {
  constructor(readonly size: number) {
    super(416, 'RANGE_NOT_SATISFIABLE', 'range not satisfiable');
  }
}

/** The origin refused the connection, reset it, or answered garbage. */
export class OriginUnavailable extends ImgedgeError {
  constructor(detail: string) {
    super(502, 'ORIGIN_UNAVAILABLE', `origin unavailable: ${detail}`);
  }
}

/**
 * The origin answered 5xx to a revalidation while a stored copy may stand in
 * for it (stale-if-error): the copy is served. Should the copy's window close
 * meanwhile, the edge says so as a 502 of its own.
 */
export class OriginFailed extends ImgedgeError {
  constructor(readonly originStatus: number) {
    super(502, 'ORIGIN_ERROR', `origin answered ${originStatus}`);
  }
}

/**
 * The request already passed through this edge on its way here (its own Via
 * entry): the chain of origins loops. Refused before anything is forwarded,
 * so a loop ends at once instead of waiting on itself (508 Loop Detected,
 * RFC 5842 §7.2, the one status that says so).
 */
export class LoopDetected extends ImgedgeError {
  constructor(pseudonym: string) {
    super(508, 'LOOP_DETECTED', `this request already passed through this edge (Via carries ${pseudonym}): check --origin of the edges in the chain`);
  }
}

/**
 * The request said `Cache-Control: only-if-cached` and nothing stored may
 * answer it without asking upstream: 504, as RFC 9111 §5.2.1.7 says. Not a
 * failure: nothing was asked, nothing broke.
 */
export class NotCached extends ImgedgeError {
  constructor() {
    super(504, 'NOT_CACHED', 'only-if-cached: nothing stored may answer this without asking upstream');
  }
}

/** A peer did not take a fetch (refused, reset, or no acknowledgement in time): the member next in line is asked instead. */
export class PeerUnreachable extends ImgedgeError {
  /** `refused`: nothing listens there now (a process gone or restarting), which costs nothing to try again. */
  constructor(readonly peer: string, detail: string, readonly refused = false) {
    super(502, 'PEER_UNREACHABLE', `peer ${peer} unreachable: ${detail}`);
  }
}

/** A purge was applied here but could not be passed on to every peer. */
export class PurgeIncomplete extends ImgedgeError {
  constructor(readonly purged: number, readonly unreached: readonly string[]) {
    super(502, 'PURGE_INCOMPLETE', `purged ${purged} here, but these peers were not reached (retry the purge): ${unreached.join(', ')}`);
  }
}

/** No response head, or no body bytes, within --origin-timeout-ms. */
export class OriginTimeout extends ImgedgeError {
  constructor() {
    super(504, 'ORIGIN_TIMEOUT', 'origin timed out');
  }
}

/** The origin's body ended early or broke: the object is never stored. */
export class OriginBodyBroken extends ImgedgeError {
  constructor(detail: string) {
    super(502, 'ORIGIN_BODY_BROKEN', `origin body broken: ${detail}`);
  }
}

/** The cache dir failed (full, read-only, out of fds): the response is lost, not the process. */
export class StorageFailed extends ImgedgeError {
  constructor(detail: string) {
    super(503, 'STORAGE_ERROR', `cache storage failed: ${detail}`);
  }
}

/** A write is stored but its change-log entry could not be appended (Redis down): the uploader retries. */
export class ChangeLogUnavailable extends ImgedgeError {
  constructor(detail: string) {
    super(503, 'CHANGELOG_UNAVAILABLE', `change log unavailable: ${detail}`);
  }
}

/** The origin's bucket did not answer, or answered with an error of its own. */
export class BucketUnavailable extends ImgedgeError {
  constructor(detail: string) {
    super(503, 'BUCKET_UNAVAILABLE', `bucket unavailable: ${detail}`);
  }
}

/** Asked for something the edge cannot do yet (the index still loading): retry. */
export class NotReady extends ImgedgeError {
  constructor(detail: string) {
    super(503, 'NOT_READY', `not ready: ${detail}`);
  }
}

export class Unauthorized extends ImgedgeError {
  constructor(message = 'missing or wrong bearer token') {
    super(401, 'UNAUTHORIZED', message);
  }
}

export class Forbidden extends ImgedgeError {
  constructor(message: string) {
    super(403, 'FORBIDDEN', message);
  }
}

export class BadRequest extends ImgedgeError {
  constructor(message: string) {
    super(400, 'BAD_REQUEST', message);
  }
}

/** A transform parameter out of its range (../transform/params.ts): named with what it allows. */
export class BadTransform extends ImgedgeError {
  constructor(readonly param: string, allowed: string) {
    super(400, 'BAD_TRANSFORM', `${param}: allowed values are ${allowed}`);
  }
}

/** A transform request without a valid sig while --signing-key is set. */
export class BadSignature extends ImgedgeError {
  constructor(message: string) {
    super(403, 'BAD_SIGNATURE', message);
  }
}

/** A source the edge does not transform: not a raster image it decodes (SVG included), or animated. */
export class UnsupportedImage extends ImgedgeError {
  constructor(message: string) {
    super(415, 'UNSUPPORTED_IMAGE', message);
  }
}

/** A source over the byte or pixel limit: a decompression bomb among them. */
export class ImageTooLarge extends ImgedgeError {
  constructor(message: string) {
    super(422, 'IMAGE_TOO_LARGE', message);
  }
}

/** A transform past its time limit: answered at once, and nothing stored. */
export class TransformTimeout extends ImgedgeError {
  constructor(ms: number) {
    super(422, 'TRANSFORM_TIMEOUT', `the transform took over ${ms} ms`);
  }
}

/** Every transform slot busy and the queue full: the client retries, nothing waits unbounded. */
export class TransformBusy extends ImgedgeError {
  constructor(readonly retryAfterSec: number) {
    super(503, 'TRANSFORM_BUSY', 'too many transforms under way');
  }
}

/** An upload over --max-upload-bytes, found while it streams. */
export class PayloadTooLarge extends ImgedgeError {
  constructor(limit: number) {
    super(413, 'PAYLOAD_TOO_LARGE', `the body is over ${limit} bytes`);
  }
}

/** An upload whose first bytes are not a JPEG, PNG, WebP, AVIF or GIF. */
export class UnsupportedMediaType extends ImgedgeError {
  constructor() {
    super(415, 'UNSUPPORTED_MEDIA_TYPE', 'not a JPEG, PNG, WebP, AVIF or GIF image');
  }
}

export class NotFound extends ImgedgeError {
  constructor(message = 'not found') {
    super(404, 'NOT_FOUND', message);
  }
}

/** A write whose path collides with a directory, or runs through a file. */
export class Conflict extends ImgedgeError {
  constructor(message: string) {
    super(409, 'CONFLICT', message);
  }
}

/** A bad option value: the CLI prints the message alone and exits 2. */
export class ConfigError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`imgedge: --${option}: ${message}`);
    this.name = 'ConfigError';
  }
}
