// The hit lane: every public connection starts here, before Node's HTTP
// server sees it. While a client asks only plain GETs and HEADs for fresh
// objects held in memory, the lane reads its request heads and writes the
// stored answers straight onto the socket: no parser objects, no request or
// response streams, so a hit costs little more than the write. The first
// request the lane does not answer (a miss, a condition, a range, anything
// unusual or malformed, a head split oddly or too large) and everything after
// it on that connection go to Node's HTTP server, which does the rest: the
// lane only ever answers what it understands completely, and hands over the
// bytes as they came.
//
// Big bodies go out a slice at a time, each after the last has left, so that
// one client's megabyte does not hold up every other connection's answer.
// Idle connections and slow heads are found by one periodic check over the
// lane's connections, as Node's server checks its own: a timer per socket,
// pushed back on every read and write, would cost each hit a little.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Cache } from '../cache/cache.js';
import type { HotObject } from '../cache/hot.js';
import type { ImageRequests } from '../transform/request.js';
import { canonicalTarget } from '../http/path.js';
import { cacheStatus } from '../http/cache-status.js';
import { FIELD_NAME_CHAR, FIELD_VALUE_CHAR, httpDateNow } from '../http/headers.js';
import { deliveryFields } from '../http/answer-head.js';
import type { AccessLog } from './access.js';

export interface HitLaneOptions {
  readonly cache: Cache;
  /** Keys requests as the app does: a warm variant is a hit here like an original. */
  readonly images: ImageRequests;
  readonly access: AccessLog;
  /** False once the edge drains: requests go to the app, which closes kept-alive connections. */
  readonly accepting: () => boolean;
  /** Whether a peer's request may be answered from memory at once (see peers/log-position.ts); else the app answers it. */
  readonly vouches: (logPoint: string) => boolean;
  /** A head larger than this goes to Node's parser, which refuses it (431). */
  readonly maxHeadBytes: number;
  /** Idle connections are closed, and a head must arrive whole, within this. */
  readonly timeoutMs: number;
  /**
   * Answers a head the lane refuses as Node's parser would, and closes the
   * connection: one that took too long (408), one the client ended midway (400).
   */
  readonly refuse: (socket: Socket, reason: 'timeout' | 'eof') => void;
}

const SLICE_BYTES = 256 * 1024;
/**
 * The whole head (no final CRLF): a GET or HEAD request line in origin form,
 * then field lines as RFC 9112 writes them: a token, a colon, a value of
 * visible bytes, spaces and tabs. No bare CR or LF, no folding, no NUL.
 */
const PLAIN_HEAD = new RegExp(`^(?:GET|HEAD) /[!-~]* HTTP/1\\.1(?:\r\n${FIELD_NAME_CHAR}+:${FIELD_VALUE_CHAR}*)*$`);
/** Fields whose meaning the lane leaves to the app: conditions, ranges, credentials, bodies, upgrades, a peer's copy to keep. */
const APP_FIELD = /\r\n(?:if-[^:]*|range|authorization|content-length|transfer-encoding|expect|upgrade|te|imgedge-copy):/i;
const CONNECTION = /\r\nconnection:/i;
const KEEP_ALIVE = /\r\nconnection:[\t ]*keep-alive[\t ]*(?:\r\n|$)/i;
const HOST = /\r\nhost:/i;
const TWO_HOSTS = /\r\nhost:[^]*\r\nhost:/i;
const TWO_CONNECTIONS = /\r\nconnection:[^]*\r\nconnection:/i;
const REQUEST_ID = /\r\nx-request-id:/i;
const LOG_POSITION = /\r\nimgedge-log-position:/i;
const PEER = /\r\nimgedge-peer:/i;
/** An LF not preceded by CR: no quantifier, so one pass. */
const BARE_LF = /(?:^|[^\r])\n/;
const TWO_REQUEST_IDS = /\r\nx-request-id:[^]*\r\nx-request-id:/i;

interface PlainRequest {
  readonly method: 'GET' | 'HEAD';
  readonly target: string;
  readonly requestId: string | undefined;
  /** How far the asking replica had read the change log, when a peer asks. */
  readonly logPoint: string | undefined;
  /** Asked by another replica (counted apart from clients). */
  readonly fromPeer: boolean;
}

/**
 * A head the lane may answer, or null for anything else: another method or
 * version, a field the app must see, a missing or repeated Host, a line
 * HTTP does not allow. Null is never an error here; the app decides.
 * Whole-head tests, not a split into lines: nothing is allocated for a head
 * the lane answers but the target.
 */
export function plainRequest(head: string): PlainRequest | null {
  if (!PLAIN_HEAD.test(head) || APP_FIELD.test(head) || !HOST.test(head) || TWO_HOSTS.test(head)) return null;
  if (CONNECTION.test(head) && (!KEEP_ALIVE.test(head) || TWO_CONNECTIONS.test(head))) return null;
  const requestId = fieldValue(head, REQUEST_ID);
  if (requestId !== undefined && TWO_REQUEST_IDS.test(head)) return null;
  if (head.length > MIN_FIELDS_OVER_LIMIT_BYTES && fieldCount(head) > MAX_FIELDS) return null;
  const get = head.charCodeAt(0) === 0x47;
  const from = get ? 4 : 5;
  return { method: get ? 'GET' : 'HEAD', target: head.slice(from, head.indexOf(' ', from)), requestId, logPoint: fieldValue(head, LOG_POSITION), fromPeer: PEER.test(head) };
}

/**
 * The value of the field `name` finds (a pattern without quantifiers, so
 * linear), without its surrounding spaces and tabs: found by index scans, so
 * that no run of spaces can make it cost more than one pass.
 */
function fieldValue(head: string, name: RegExp): string | undefined {
  const found = name.exec(head);
  if (!found) return undefined;
  let from = found.index + found[0].length;
  let to = head.indexOf('\r', from);
  if (to === -1) to = head.length;
  while (from < to && isBlank(head.charCodeAt(from))) from++;
  while (to > from && isBlank(head.charCodeAt(to - 1))) to--;
  return head.slice(from, to);
}

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Node's parser keeps this many fields and drops the rest (a Host among them): such a head is the app's. */
const MAX_FIELDS = 2000;
/** A head shorter than this cannot hold more fields than MAX_FIELDS ("\r\nX:" at the least each). */
const MIN_FIELDS_OVER_LIMIT_BYTES = MAX_FIELDS * 4;

function fieldCount(head: string): number {
  let count = 0;
  for (let at = head.indexOf('\r\n'); at !== -1; at = head.indexOf('\r\n', at + 2)) count++;
  return count;
}

/** How often the lane (and Node's server) look for connections past their time. */
export function timeoutCheckMs(timeoutMs: number): number {
  return Math.max(250, Math.min(timeoutMs / 4, 5_000));
}

export class HitLane {
  readonly #connections = new Set<LaneConnection>();
  /** The last fields of every answer's head, with the blank line that ends it. */
  readonly #keepAlive: string;
  #draining = false;

  constructor(
    private readonly options: HitLaneOptions,
    /** Gives a connection to Node's HTTP server, its unread bytes put back first. */
    private readonly handOver: (socket: Socket) => void,
  ) {
    this.#keepAlive = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(options.timeoutMs / 1000)}\r\n\r\n`;
    this.#checker = setInterval(() => this.#check(), timeoutCheckMs(options.timeoutMs)).unref();
  }

  readonly #checker: NodeJS.Timeout;

  /** Puts the lane in front of `server`: its connections come here first. */
  static install(server: Server, options: HitLaneOptions): HitLane {
    const httpListeners = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const lane = new HitLane(options, (socket) => {
      for (const listener of httpListeners) listener.call(server, socket);
    });
    server.on('connection', (socket: Socket) => lane.adopt(socket));
    server.once('close', () => clearInterval(lane.#checker));
    return lane;
  }

  adopt(socket: Socket): void {
    if (this.#draining) {
      this.handOver(socket);
      return;
    }
    const connection = new LaneConnection(socket, this.options, this.#keepAlive, (unread) => {
      this.#connections.delete(connection);
      // Paused, so that nothing is read between the lane letting go and the parser taking hold.
      socket.pause();
      if (unread) socket.unshift(Buffer.from(unread, 'latin1'));
      this.handOver(socket);
      socket.resume();
    });
    this.#connections.add(connection);
    socket.once('close', () => this.#connections.delete(connection));
  }

  /** From now on connections go to the app; idle ones close, busy ones after their answer. */
  drain(): void {
    this.#draining = true;
    for (const connection of this.#connections) connection.closeWhenIdle();
  }

  #check(): void {
    const now = performance.now();
    for (const connection of this.#connections) connection.checkTime(now);
  }
}

/**
 * A hot object's answer on the wire in the current second (Age, TTL and
 * Date change no faster): the head, and for a small body the head and body
 * in one buffer, so that a hit is one write of one buffer.
 */
interface Wire {
  readonly age: number;
  readonly ttl: number;
  readonly head: Buffer;
  /** Head and body joined; null until a GET asks, or when this second's budget is spent. */
  whole: Buffer | null;
}

/** Bodies up to this size go out joined to their head. */
const JOINED_BYTES = 16 * 1024;
/** Joined copies made in one second, at most: they double the memory of what they copy. */
const JOINED_BUDGET_BYTES = 8 * 1024 * 1024;

/** The wires of the current second; all let go when it ends, so they hold one second's hits at most. */
let wires = new Map<HotObject, Wire>();
let wiresDate = '';
let joinedBytes = 0;

function wireOf(object: HotObject, age: number, ttl: number, keepAlive: string): Wire {
  const date = httpDateNow();
  if (date !== wiresDate) {
    wires = new Map();
    wiresDate = date;
    joinedBytes = 0;
  }
  ttl = Math.round(ttl);
  const known = wires.get(object);
  if (known && known.age === age && known.ttl === ttl) return known;
  const delivery = deliveryFields(object.headers, cacheStatus({ hit: true, ttl }), age, httpDateNow);
  let text = object.wholeHead!;
  for (let i = 0; i < delivery.length; i += 2) text += `${delivery[i]}: ${delivery[i + 1]}\r\n`;
  const head = Buffer.from(text + keepAlive, 'latin1');
  const wire = { age, ttl, head, whole: null };
  wires.set(object, wire);
  return wire;
}

/** The head and body in one buffer when the body is small and the second's budget allows, else null. */
function joined(wire: Wire, body: Buffer): Buffer | null {
  if (wire.whole || body.length > JOINED_BYTES || joinedBytes + body.length > JOINED_BUDGET_BYTES) return wire.whole;
  joinedBytes += wire.head.length + body.length;
  return (wire.whole = Buffer.concat([wire.head, body]));
}

/** The answer a connection is writing. */
interface Answering {
  readonly request: PlainRequest;
  readonly status: number;
  readonly body: Buffer;
  /** Body bytes handed to the socket so far. */
  offset: number;
  readonly bytes: number;
  readonly bytesBefore: number;
  readonly started: number;
}

class LaneConnection {
  /** Bytes read and not yet answered, as latin1 text (one char per byte). */
  #unread = '';
  /** Where the search for the end of the next head resumes in #unread. */
  #searchedTo = 0;
  #answering: Answering | null = null;
  #closing = false;
  #detached = false;
  /** When the connection last read or wrote (performance.now()). */
  #activeAt = performance.now();
  /** When the first bytes of a head not yet whole arrived, or null. */
  #headSince: number | null = null;
  readonly #onData = (chunk: Buffer) => this.#received(chunk);
  readonly #onEnd = () => this.#ended();
  readonly #onError = () => this.socket.destroy();
  readonly #sent = (error?: Error | null) => this.#written(error);
  readonly #nextSlice = () => this.#writeSlice();

  constructor(
    private readonly socket: Socket,
    private readonly options: HitLaneOptions,
    private readonly keepAlive: string,
    private readonly release: (unread: string) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.once('close', () => this.#finish(false));
  }

  /**
   * Cuts a connection past its time: a head not whole within the timeout
   * gets 408; a connection that neither read nor wrote for as long (idle, or
   * a client that stopped reading its answer) is closed.
   */
  checkTime(now: number): void {
    if (this.#detached) return;
    const timeout = this.options.timeoutMs;
    if (this.#headSince !== null && !this.#answering && now - this.#headSince >= timeout) this.#headLate();
    else if (now - this.#activeAt >= timeout) this.socket.destroy();
  }

  closeWhenIdle(): void {
    this.#closing = true;
    if (!this.#answering) this.socket.end();
  }

  #received(chunk: Buffer): void {
    this.#activeAt = performance.now();
    this.#unread += chunk.toString('latin1');
    this.#serve();
  }

  /** Answers every whole request read so far, until one is not the lane's. */
  #serve(): void {
    while (!this.#answering && !this.socket.destroyed) {
      if (this.#unread === '') return;
      // A head dripped in pieces is searched once, not again from its start at every piece.
      const end = this.#unread.indexOf('\r\n\r\n', this.#searchedTo);
      if (end === -1) {
        // A line ended by a bare LF is the parser's to judge, and could end a head the lane never sees end.
        const fresh = this.#unread.slice(Math.max(0, this.#searchedTo - 1));
        if (this.#unread.length > this.options.maxHeadBytes || BARE_LF.test(fresh)) return this.#handOver();
        this.#searchedTo = Math.max(0, this.#unread.length - 3);
        this.#headSince ??= this.#activeAt;
        return;
      }
      this.#searchedTo = 0;
      this.#headSince = null;
      if (end + 4 > this.options.maxHeadBytes || !this.options.accepting()) return this.#handOver();
      // A request's time starts when its bytes were read.
      const started = this.#activeAt;
      const request = plainRequest(this.#unread.slice(0, end));
      const target = request && canonicalTarget(request.target);
      const key = target && this.options.images.hitKey(target.path, target.query);
      const hit = key && this.options.cache.hotHit(key);
      if (!hit || hit.object.wholeHead === null || (request.logPoint !== undefined && !this.options.vouches(request.logPoint))) return this.#handOver();
      this.#unread = this.#unread.length === end + 4 ? '' : this.#unread.slice(end + 4);
      if (!this.#answer(request, hit.object, wireOf(hit.object, hit.age, hit.ttl, this.keepAlive), started)) return;
    }
  }

  /** Writes an answer; true when it has all left already, false when its end is awaited. */
  #answer(request: PlainRequest, object: HotObject, wire: Wire, started: number): boolean {
    const socket = this.socket;
    const body = request.method === 'HEAD' ? EMPTY : object.body;
    const status = object.meta.status;
    const bytes = wire.head.length + body.length;
    let offset = body.length;
    const whole = body.length === 0 ? wire.head : joined(wire, body);
    if (whole) socket.write(whole);
    else {
      offset = Math.min(body.length, SLICE_BYTES);
      socket.cork();
      socket.write(wire.head);
      socket.write(offset === body.length ? body : body.subarray(0, offset));
      socket.uncork();
    }
    // Most answers leave in the write itself; the rest are followed to their last byte.
    if (socket.writableLength === 0 && offset === body.length) {
      this.options.access.record(request.method, request.target, status, 'hit', bytes, started, true, request.requestId, request.fromPeer);
      if (!this.#closing) return true;
      socket.end();
      return false;
    }
    const bytesBefore = socket.bytesWritten - wire.head.length - offset;
    this.#answering = { request, status, body, offset, bytes, bytesBefore, started };
    // Nothing more is read while an answer is in flight, as Node's server
    // does: a client that sends and never reads costs one read, not memory.
    socket.pause();
    socket.write(EMPTY, this.#sent);
    return false;
  }

  #written(error: Error | null | undefined): void {
    const answering = this.#answering;
    if (!answering) return;
    this.#activeAt = performance.now();
    if (error) return this.#finish(false);
    if (answering.offset >= answering.body.length) return this.#finish(true);
    // The next slice once the event loop has served the other connections.
    setImmediate(this.#nextSlice);
  }

  #writeSlice(): void {
    const answering = this.#answering;
    if (!answering || this.socket.destroyed) return;
    const from = answering.offset;
    answering.offset = Math.min(answering.body.length, from + SLICE_BYTES);
    this.socket.write(answering.body.subarray(from, answering.offset), this.#sent);
  }

  /** Records the answer in progress, if any; after a complete one, the next request is read. */
  #finish(complete: boolean): void {
    const answering = this.#answering;
    if (!answering) return;
    this.#answering = null;
    const { request } = answering;
    const bytes = complete ? answering.bytes : Math.max(0, this.socket.bytesWritten - answering.bytesBefore);
    this.options.access.record(request.method, request.target, answering.status, 'hit', bytes, answering.started, complete, request.requestId, request.fromPeer);
    if (!complete) return;
    if (this.#closing) this.socket.end();
    else {
      this.#serve();
      if (!this.#answering && !this.#detached) this.socket.resume();
    }
  }

  #headLate(): void {
    if (this.socket.destroyed) return;
    this.#detach();
    this.options.refuse(this.socket, 'timeout');
  }

  /** The client sent its last byte: what it asked is answered, then the connection closes. */
  #ended(): void {
    if (this.#answering || this.#unread === '') return this.closeWhenIdle();
    // A head cut off by the end of the stream, as Node's parser refuses it.
    this.#detach();
    this.options.refuse(this.socket, 'eof');
  }

  #handOver(): void {
    this.#detach();
    this.release(this.#unread);
  }

  #detach(): void {
    this.#detached = true;
    this.socket.removeListener('data', this.#onData);
    this.socket.removeListener('end', this.#onEnd);
    this.socket.removeListener('error', this.#onError);
  }
}

const EMPTY = Buffer.alloc(0);
