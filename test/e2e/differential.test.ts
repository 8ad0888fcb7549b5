// The edge against a plain node:http server, given the same bytes: random
// pipelines of request heads (valid, malformed and hostile framings), written
// in pieces split at random offsets. The edge reads sockets itself before
// Node's parser does (the hit lane), so the two must agree on where each
// request ends: how many answers there were, which requests were refused by
// the parser, and in what order the answers came.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { TestOrigin } from '../helpers/origin.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';

const OBJECTS = 12;
const QUIET_MS = 150;
const SLOW_MS = 5000;
let origin: TestOrigin;
let edge: TestEdge;
let reference: http.Server;
let referenceUrl: string;

before(async () => {
  origin = await TestOrigin.start();
  for (let i = 0; i < OBJECTS; i++) origin.set(`/d/${i}.jpg`, { body: `/d/${i}.jpg` });
  edge = await startTestEdge(origin.url, { args: ['--client-timeout-ms', '5000'] });
  // What any HTTP/1.1 server built on Node answers: 200 and the path, to every request it parses.
  reference = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    req.resume();
    req.on('end', () => res.end((req.url ?? '').split('?')[0]));
  });
  await new Promise<void>((resolve) => reference.listen(0, '127.0.0.1', resolve));
  referenceUrl = `http://127.0.0.1:${(reference.address() as AddressInfo).port}`;
  // Half of the objects are hits held in memory, answered by the lane; the rest misses.
  for (let i = 0; i < OBJECTS / 2; i++) await fetch(`${edge.url}/d/${i}.jpg`).then((r) => r.arrayBuffer());
});

after(async () => {
  reference?.closeAllConnections();
  await new Promise((resolve) => reference?.close(resolve));
  await edge?.close();
  await origin?.stop();
});

const EOL = fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\n');
const FIELD = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Accept: image/*', 'User-Agent: t', 'X-Request-Id: abc', `X-Request-Id: a${' '.repeat(300)}b`) },
  { weight: 2, arbitrary: fc.constantFrom('Connection: keep-alive', 'Connection: close', 'Connection: upgrade\r\nUpgrade: websocket') },
  { weight: 2, arbitrary: fc.constantFrom('Range: bytes=0-3', 'If-None-Match: "x"', 'Authorization: Bearer t', 'Expect: 100-continue') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'Content-Length: 5\r\n', 'Transfer-Encoding: chunked', 'Content-Length: 0\r\nContent-Length: 4', 'Content-Length: 3\r\nTransfer-Encoding: chunked',
      'X-Folded: a\r\n b', 'Bad Field', 'X-Nul: a\0b', 'Host : x', 'X-Cr: a\rb', `X-Long: ${'v'.repeat(20_000)}`, 'Transfer-Encoding: xchunked',
    ),
  },
);
const REQUEST = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'GET\t'),
  object: fc.nat({ max: OBJECTS - 1 }),
  query: fc.constantFrom('', '', '?a=1', '?b=%20'),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'http/1.1'),
  hosts: fc.constantFrom(1, 1, 1, 0, 2),
  fields: fc.array(FIELD, { maxLength: 3 }),
  eol: EOL,
  body: fc.constantFrom('', '', 'hello', '0\r\n\r\n'),
});
type Request = typeof REQUEST extends fc.Arbitrary<infer T> ? T : never;

function wire(request: Request): string {
  const lines = [`${request.method} /d/${request.object}.jpg${request.query} ${request.version}`];
  for (let i = 0; i < request.hosts; i++) lines.push('Host: edge');
  lines.push(...request.fields.map((field) => field.replaceAll('\r\n', request.eol)));
  return lines.join(request.eol) + request.eol + request.eol + request.body;
}


/** The answers on a connection, and whether the connection ended with the last of them (it said so, or was reset). */
function parseAnswers(raw: Buffer, heads: string[]): Answers {
  const answers: string[] = [];
  let closing = false;
  let at = 0;
  let asked = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end === -1) {
      answers.push(`unparsable tail of ${raw.length - at} bytes`);
      break;
    }
    const head = raw.subarray(at, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const declared = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
    const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
    at = end + 4;
    if (status >= 100 && status < 200) continue;
    const isHead = heads[asked++] === 'HEAD';
    let body = '';
    if (!isHead && status !== 304) {
      if (chunked) {
        const stop = raw.indexOf('\r\n0\r\n\r\n', at);
        body = `(chunked ${stop - at})`;
        at = stop === -1 ? raw.length : stop + 7;
      } else {
        // Without a length (an HTTP/1.0 answer), the body runs to the close.
        const length = declared === undefined ? raw.length - at : Number(declared);
        body = raw.subarray(at, at + length).toString('latin1');
        at += length;
      }
    }
    answers.push(classify(status, head, body));
    closing = /\r\nconnection: *close/i.test(head);
  }
  return Object.assign(answers, { closing });
}

type Answers = string[] & { closing: boolean };

/**
 * What the test compares: a refusal by the parser (the reference's, or the
 * edge's, which says so in Cache-Status), or an answer; an answer with the
 * object's bytes names the request it answers. The edge's own answers (405,
 * a 400 for two Host lines or a bad path, a 416) say no more than "answered".
 */
function classify(status: number, head: string, body: string): string {
  const detail = /\r\ncache-status: [^\r]*detail=([A-Z_]+)/i.exec(head)?.[1];
  const byParser = detail === undefined ? !/\r\ncache-status:/i.test(head) : /^(HPE_|ERR_HTTP_)/.test(detail);
  if (status >= 400 && byParser) return `refused ${status}`;
  if (status === 200 && body.startsWith('/d/')) return body;
  return 'answered';
}

/**
 * A connection the pieces were written to, read until the server closes. The
 * client never half-closes: Node's server drops requests still being answered
 * when the client's FIN arrives, which would measure speed, not framing.
 */
class Exchange {
  readonly #socket: net.Socket;
  readonly #chunks: Buffer[] = [];
  readonly #written: Promise<void>;
  #lastData = Date.now();
  #reset = false;

  constructor(url: string, pieces: string[], private readonly heads: string[]) {
    this.#socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    // A server that refuses closes while pieces may still be on their way:
    // they meet a closed socket, and the reset can take its refusal with it.
    this.#socket.on('error', () => (this.#reset = true));
    this.#socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#lastData = Date.now();
    });
    this.#written = new Promise((resolve) => {
      this.#socket.once('connect', async () => {
        for (const piece of pieces) {
          if (this.#socket.destroyed) break;
          this.#socket.write(Buffer.from(piece, 'latin1'));
          await new Promise((r) => setTimeout(r, 1));
        }
        resolve();
      });
      this.#socket.once('close', () => resolve());
    });
  }

  /** Waits until everything is written and the server has sent nothing for `quietMs`, or closed. */
  async settle(quietMs: number): Promise<void> {
    await this.#written;
    this.#lastData = Math.max(this.#lastData, Date.now());
    while (!this.#socket.destroyed && Date.now() - this.#lastData < quietMs) {
      await new Promise((r) => setTimeout(r, Math.max(5, quietMs - (Date.now() - this.#lastData))));
    }
  }

  get answers(): Answers {
    const answers = parseAnswers(Buffer.concat(this.#chunks), this.heads);
    return Object.assign(answers, { closing: answers.closing || this.#reset });
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Whether the two agree. Where both answers name the request they answer,
 * the names must be the same; an answer of the edge's own (405, a 400 for
 * two Host lines or a bad path) names none. A refusal by the parser ends the
 * connection, so both must refuse, or neither; and then Node drops requests
 * it had read but not answered yet when it meets the bad one in the same
 * read, so before a refusal one side may have answered more than the other,
 * in the same order. A side whose last answer closed the connection (an
 * HTTP/1.0 request, or Connection: close) has no refusal to send for what
 * came after it: Node refuses only while no answer is under way, so an
 * answer written at once (a hit from memory) ends the connection before the
 * bad bytes are refused, and one written later is dropped for the refusal.
 * A connection reset may have lost the refusal on its way.
 */
function agree(edgeAnswers: Answers, referenceAnswers: Answers): boolean {
  const named = (a: string) => a.startsWith('/d/');
  const same = (a: string, b: string) => a === b || !named(a) || !named(b);
  const refused = (answers: string[]) => answers.some((a) => a.startsWith('refused'));
  if (refused(edgeAnswers) !== refused(referenceAnswers)) {
    const [closed, refusing] = refused(edgeAnswers) ? [referenceAnswers, edgeAnswers] : [edgeAnswers, referenceAnswers];
    return closed.closing && closed.length >= refusing.length - 1 && refusing.slice(0, -1).every((a, i) => same(a, closed[i]!));
  }
  if (!refused(edgeAnswers)) return edgeAnswers.length === referenceAnswers.length && edgeAnswers.every((a, i) => same(a, referenceAnswers[i]!));
  const [shorter, longer] = [edgeAnswers.slice(0, -1), referenceAnswers.slice(0, -1)].sort((a, b) => a.length - b.length);
  return edgeAnswers.at(-1)!.startsWith('refused') && referenceAnswers.at(-1)!.startsWith('refused') &&
    shorter!.every((a, i) => same(a, longer![i]!));
}

test('property: the edge and a plain node:http server agree on every pipeline, split anywhere', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(REQUEST, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 6 }), async (requests, cuts) => {
      const bytes = requests.map(wire).join('');
      const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const pieces: string[] = [];
      let from = 0;
      for (const offset of [...offsets, bytes.length]) {
        if (offset > from) pieces.push(bytes.slice(from, offset));
        from = offset;
      }
      const heads = requests.map((r) => r.method);
      const atEdge = new Exchange(edge.url, pieces, heads);
      const atReference = new Exchange(referenceUrl, pieces, heads);
      try {
        await Promise.all([atEdge.settle(QUIET_MS), atReference.settle(QUIET_MS)]);
        // A loaded machine can be slower than the quiet period: a difference is looked at again later.
        if (!agree(atEdge.answers, atReference.answers)) await Promise.all([atEdge.settle(SLOW_MS), atReference.settle(SLOW_MS)]);
      } finally {
        atEdge.close();
        atReference.close();
      }
      assert.ok(
        agree(atEdge.answers, atReference.answers),
        `edge ${JSON.stringify(atEdge.answers)} vs node:http ${JSON.stringify(atReference.answers)} for ${JSON.stringify(bytes.slice(0, 600))}`,
      );
    }),
    { seed: 9110, numRuns: 120, endOnFailure: true, includeErrorInReport: true },
  );
});
