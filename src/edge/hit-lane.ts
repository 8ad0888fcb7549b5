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
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Cache } from '../cache/cache.js';
import type { HotObject } from '../cache/hot.js';
import { cacheKey } from '../cache/key.js';
import { canonicalTarget } from '../http/path.js';
import { cacheStatus } from '../http/cache-status.js';
import { requestIdFrom, type AccessLog } from './access.js';

export interface HitLaneOptions {
  readonly cache: Cache;
  readonly access: AccessLog;
  /** False once the edge drains: requests go to the app, which closes kept-alive connections. */
  readonly accepting: () => boolean;
  /** A head larger than this goes to Node's parser, which refuses it (431). */
  readonly maxHeadBytes: number;
  /** Idle connections are closed, and a head must arrive whole, within this. */
  readonly timeoutMs: number;
  /** Answers a head that took too long: 408 and a closed connection. */
  readonly headTimedOut: (socket: Socket) => void;
}

const SLICE_BYTES = 256 * 1024;
const REQUEST_LINE = /^(GET|HEAD) (\/[!-~]*) HTTP\/1\.1$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
/** Request fields whose meaning the lane leaves to the app (besides If-*): ranges, credentials, bodies, upgrades. */
const APP_FIELDS = new Set(['range', 'authorization', 'content-length', 'transfer-encoding', 'expect', 'upgrade', 'te']);

interface PlainRequest {
  readonly method: 'GET' | 'HEAD';
  readonly target: string;
  readonly requestId: string | undefined;
}

/**
 * A head the lane may answer, or null for anything else: another method or
 * version, a field the app must see, a missing or repeated Host, a line
 * HTTP does not allow. Null is never an error here; the app decides.
 */
export function plainRequest(head: string): PlainRequest | null {
  const lines = head.split('\r\n');
  const request = REQUEST_LINE.exec(lines[0]!);
  if (!request) return null;
  let hosts = 0;
  let requestId: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const field = FIELD_LINE.exec(lines[i]!);
    if (!field) return null;
    const name = field[1]!.toLowerCase();
    if (name === 'host') hosts++;
    else if (name === 'connection') {
      if (field[2]!.toLowerCase() !== 'keep-alive') return null;
    } else if (name === 'x-request-id') {
      if (requestId !== undefined) return null;
      requestId = field[2];
    } else if (APP_FIELDS.has(name) || name.startsWith('if-')) return null;
  }
  if (hosts !== 1) return null;
  return { method: request[1] as 'GET' | 'HEAD', target: request[2]!, requestId };
}

/** The Date field's text, made once a second. */
let dateSecond = -1;
let dateText = '';
function dateNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

export class HitLane {
  readonly #connections = new Set<LaneConnection>();
  #draining = false;

  constructor(
    private readonly options: HitLaneOptions,
    /** Gives a connection to Node's HTTP server, its unread bytes put back first. */
    private readonly handOver: (socket: Socket) => void,
  ) {}

  /** Puts the lane in front of `server`: its connections come here first. */
  static install(server: Server, options: HitLaneOptions): HitLane {
    const httpListeners = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const lane = new HitLane(options, (socket) => {
      for (const listener of httpListeners) listener.call(server, socket);
    });
    server.on('connection', (socket: Socket) => lane.adopt(socket));
    return lane;
  }

  adopt(socket: Socket): void {
    if (this.#draining) {
      this.handOver(socket);
      return;
    }
    const connection = new LaneConnection(socket, this.options, (unread) => {
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
}

/** The head of a hot object's answer as bytes, valid while its Age, TTL and Date stay the same. */
interface WireHead {
  readonly age: number;
  readonly ttl: number;
  readonly date: string;
  readonly bytes: Buffer;
}

const wireHeads = new WeakMap<HotObject, WireHead>();

function wireHeadOf(object: HotObject, age: number, ttl: number, keepAlive: string): Buffer {
  const date = dateNow();
  ttl = Math.round(ttl);
  const known = wireHeads.get(object);
  if (known && known.age === age && known.ttl === ttl && known.date === date) return known.bytes;
  const bytes = Buffer.from(
    `${object.wholeHead}cache-status: ${cacheStatus({ hit: true, ttl })}\r\nage: ${age}\r\ndate: ${date}\r\n${keepAlive}`,
    'latin1',
  );
  wireHeads.set(object, { age, ttl, date, bytes });
  return bytes;
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
  #answering: Answering | null = null;
  #closing = false;
  #headTimer: NodeJS.Timeout | undefined;
  readonly #keepAlive: string;
  readonly #onData = (chunk: Buffer) => this.#received(chunk);
  readonly #onTimeout = () => this.#idle();
  readonly #onEnd = () => this.closeWhenIdle();
  readonly #onError = () => this.socket.destroy();
  readonly #sent = (error?: Error | null) => this.#written(error);
  readonly #nextSlice = () => this.#writeSlice();

  constructor(
    private readonly socket: Socket,
    private readonly options: HitLaneOptions,
    private readonly release: (unread: string) => void,
  ) {
    this.#keepAlive = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(options.timeoutMs / 1000)}\r\n\r\n`;
    socket.setNoDelay(true);
    socket.setTimeout(options.timeoutMs, this.#onTimeout);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.once('close', () => {
      clearTimeout(this.#headTimer);
      this.#finish(false);
    });
  }

  closeWhenIdle(): void {
    this.#closing = true;
    if (!this.#answering) this.socket.end();
  }

  #received(chunk: Buffer): void {
    this.#unread += chunk.toString('latin1');
    this.#serve();
  }

  /** Answers every whole request read so far, until one is not the lane's. */
  #serve(): void {
    while (!this.#answering && !this.socket.destroyed) {
      if (this.#unread === '') return;
      const end = this.#unread.indexOf('\r\n\r\n');
      if (end === -1) {
        if (this.#unread.length > this.options.maxHeadBytes) this.#handOver();
        else this.#headTimer ??= setTimeout(() => this.#headLate(), this.options.timeoutMs);
        return;
      }
      clearTimeout(this.#headTimer);
      this.#headTimer = undefined;
      if (end + 4 > this.options.maxHeadBytes || !this.options.accepting()) return this.#handOver();
      const started = performance.now();
      const request = plainRequest(this.#unread.slice(0, end));
      const target = request && canonicalTarget(request.target);
      const hit = target && this.options.cache.hotHit(cacheKey(target.path, target.query));
      if (!hit || hit.object.wholeHead === null) return this.#handOver();
      this.#unread = this.#unread.length === end + 4 ? '' : this.#unread.slice(end + 4);
      this.#answer(request, hit.object, wireHeadOf(hit.object, hit.age, hit.ttl, this.#keepAlive), started);
    }
  }

  #answer(request: PlainRequest, object: HotObject, head: Buffer, started: number): void {
    const body = request.method === 'HEAD' ? EMPTY : object.body;
    const socket = this.socket;
    const first = Math.min(body.length, SLICE_BYTES);
    this.#answering = {
      request,
      status: object.meta.status,
      body,
      offset: first,
      bytes: head.length + body.length,
      bytesBefore: socket.bytesWritten,
      started,
    };
    // One write of head and first slice; its callback says both have left.
    if (first === 0) {
      socket.write(head, this.#sent);
      return;
    }
    socket.cork();
    socket.write(head);
    socket.write(first === body.length ? body : body.subarray(0, first), this.#sent);
    socket.uncork();
  }

  #written(error: Error | null | undefined): void {
    const answering = this.#answering;
    if (!answering) return;
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

  /** Records the answer in progress, if any; a complete one lets the next request be read. */
  #finish(complete: boolean): void {
    const answering = this.#answering;
    if (!answering) return;
    this.#answering = null;
    const { request } = answering;
    this.options.access.record({
      method: request.method,
      target: request.target,
      status: answering.status,
      cache: 'hit',
      bytes: complete ? answering.bytes : Math.max(0, this.socket.bytesWritten - answering.bytesBefore),
      started: answering.started,
      complete,
      reqId: () => requestIdFrom(request.requestId),
    });
    if (!complete) return;
    if (this.#closing) this.socket.end();
    else this.#serve();
  }

  #idle(): void {
    // An answer in progress whose client stopped reading is cut like any idle connection.
    this.socket.destroy();
  }

  #headLate(): void {
    this.#headTimer = undefined;
    if (this.#answering || this.socket.destroyed) return;
    this.#detach();
    this.options.headTimedOut(this.socket);
  }

  #handOver(): void {
    this.#detach();
    this.release(this.#unread);
  }

  #detach(): void {
    clearTimeout(this.#headTimer);
    this.socket.setTimeout(0);
    this.socket.removeListener('timeout', this.#onTimeout);
    this.socket.removeListener('data', this.#onData);
    this.socket.removeListener('end', this.#onEnd);
    this.socket.removeListener('error', this.#onError);
  }
}

const EMPTY = Buffer.alloc(0);
