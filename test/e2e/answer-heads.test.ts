// Every path that answers sends the same head: a miss (the app following a
// fill), a disk hit (the app), a memory hit on a fresh connection (the hit
// lane) and on a connection Node's server owns (the fast hit), HEAD, 304 and
// 206. Read off the wire, so that a field sent twice is seen twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { TestOrigin, etagOf } from '../helpers/origin.js';
import { bytes } from '../helpers/http.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';

interface WireAnswer {
  readonly status: number;
  /** [name (lower case), value] in the order sent, duplicates kept. */
  readonly fields: [string, string][];
  readonly body: Buffer;
}

let origin: TestOrigin;
/** Holds small objects in memory: the lane and the fast hit answer them. */
let memory: TestEdge;
/** Holds nothing in memory: every hit is read from disk by the app. */
let disk: TestEdge;
const body = bytes(3000, 'heads');
const HOP_BY_HOP = new Set(['connection', 'keep-alive']);

/** A connection that sends requests one at a time and reads each answer whole. */
class Wire {
  readonly #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | null = null;

  constructor(edge: TestEdge) {
    this.#socket = net.connect(Number(new URL(edge.url).port), '127.0.0.1');
    this.#socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    this.#socket.on('error', () => {});
  }

  async ask(method: string, path: string, headers: Record<string, string> = {}): Promise<WireAnswer> {
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: edge', ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)];
    this.#socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let end: number;
    while ((end = this.#buffer.indexOf('\r\n\r\n')) === -1) await this.#more();
    const [statusLine, ...fieldLines] = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
    const fields = fieldLines.map((line): [string, string] => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
    const status = Number(statusLine!.split(' ')[1]);
    const length = method === 'HEAD' || status === 304 ? 0 : Number(fields.find(([n]) => n === 'content-length')?.[1] ?? 0);
    while (this.#buffer.length < end + 4 + length) await this.#more();
    const answer = { status, fields, body: this.#buffer.subarray(end + 4, end + 4 + length) };
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    return answer;
  }

  close(): void {
    this.#socket.destroy();
  }

  #more(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }
}

async function once(edge: TestEdge, method: string, path: string, headers: Record<string, string> = {}): Promise<WireAnswer> {
  const wire = new Wire(edge);
  try {
    return await wire.ask(method, path, headers);
  } finally {
    wire.close();
  }
}

function names(answer: WireAnswer): string[] {
  return answer.fields.map(([name]) => name).filter((name) => !HOP_BY_HOP.has(name)).sort();
}

function assertNoRepeats(label: string, answer: WireAnswer): void {
  const seen = answer.fields.map(([name]) => name);
  const repeated = seen.filter((name, i) => seen.indexOf(name) !== i);
  assert.deepEqual(repeated, [], `${label}: fields sent more than once`);
}

before(async () => {
  origin = await TestOrigin.start();
  // No Content-Type, and the origin's own Accept-Ranges and Date: the edge adds nothing of its own
  // in their place, and sends each once.
  const headers = {
    etag: etagOf(body), 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'cache-control': 'public, max-age=3600',
    'accept-ranges': 'bytes', date: new Date().toUTCString(), 'x-origin': 'kept',
  };
  origin.set('/a.jpg', { body, headers });
  memory = await startTestEdge(origin.url);
  disk = await startTestEdge(origin.url, { args: ['--memory-cache-bytes', '0'] });
});

after(async () => {
  await memory?.close();
  await disk?.close();
  await origin?.stop();
});

test('miss, disk hit, lane hit, fast hit, HEAD, 304 and 206 send each field once, and the same fields', async () => {
  const answers: Record<string, WireAnswer> = {};
  answers['miss'] = await once(memory, 'GET', '/a.jpg');
  answers['memory hit, fresh connection (lane)'] = await once(memory, 'GET', '/a.jpg');
  const kept = new Wire(memory);
  try {
    answers['memory hit, kept alive (lane)'] = (await kept.ask('GET', '/a.jpg'), await kept.ask('GET', '/a.jpg'));
    answers['HEAD (lane)'] = await kept.ask('HEAD', '/a.jpg');
    // A condition hands the connection to Node's server; its hits are then the fast path's.
    answers['304'] = await kept.ask('GET', '/a.jpg', { 'if-none-match': etagOf(body) });
    answers['memory hit, kept alive (fast hit)'] = await kept.ask('GET', '/a.jpg');
    answers['HEAD (fast hit)'] = await kept.ask('HEAD', '/a.jpg');
    answers['206'] = await kept.ask('GET', '/a.jpg', { range: 'bytes=10-99' });
  } finally {
    kept.close();
  }
  answers['miss (disk edge)'] = await once(disk, 'GET', '/a.jpg');
  answers['disk hit'] = await once(disk, 'GET', '/a.jpg');
  answers['HEAD (disk hit)'] = await once(disk, 'HEAD', '/a.jpg');

  for (const [label, answer] of Object.entries(answers)) assertNoRepeats(label, answer);

  const whole = names(answers['memory hit, fresh connection (lane)']!);
  assert.ok(!whole.includes('content-type'), 'no Content-Type the origin did not send');
  for (const field of ['accept-ranges', 'age', 'cache-status', 'content-length', 'date', 'etag', 'x-origin']) {
    assert.ok(whole.includes(field), `a hit carries ${field}`);
  }
  for (const label of ['memory hit, kept alive (lane)', 'HEAD (lane)', 'memory hit, kept alive (fast hit)', 'HEAD (fast hit)', 'disk hit', 'HEAD (disk hit)']) {
    assert.equal(answers[label]!.status, 200, label);
    assert.deepEqual(names(answers[label]!), whole, label);
  }
  // From the origin, not the cache: the same fields but Age.
  for (const label of ['miss', 'miss (disk edge)']) {
    assert.deepEqual(names(answers[label]!), whole.filter((n) => n !== 'age'), label);
    assert.deepEqual(answers[label]!.body, body, label);
  }
  assert.equal(answers['206']!.status, 206);
  assert.deepEqual(names(answers['206']!), [...whole, 'content-range'].sort());
  assert.deepEqual(answers['206']!.body, body.subarray(10, 100));
  assert.equal(answers['304']!.status, 304);
  assert.deepEqual(names(answers['304']!), ['age', 'cache-control', 'cache-status', 'date', 'etag', 'last-modified']);
  // One Date, and it is the origin's: Age says how old the copy is.
  const originDate = answers['miss']!.fields.find(([n]) => n === 'date')![1];
  for (const [label, answer] of Object.entries(answers)) {
    if (label.includes('disk')) continue;
    assert.equal(answer.fields.find(([n]) => n === 'date')?.[1], originDate, `${label}: the stored Date`);
  }
});

test('an object stored without a Date is sent with one Date of now, on every path', async () => {
  const plain = bytes(500, 'no-date');
  origin.set('/no-date.jpg', { body: plain, date: false, headers: { 'cache-control': 'max-age=600', 'content-type': 'image/jpeg' } });
  const miss = await once(memory, 'GET', '/no-date.jpg');
  const lane = await once(memory, 'GET', '/no-date.jpg');
  const app = await once(memory, 'GET', '/no-date.jpg', { range: 'bytes=0-9' });
  for (const [label, answer] of [['miss', miss], ['lane', lane], ['app', app]] as const) {
    assertNoRepeats(label, answer);
    const date = answer.fields.find(([n]) => n === 'date')?.[1];
    assert.ok(date && Math.abs(Date.parse(date) - Date.now()) < 5000, `${label}: Date ${date}`);
  }
});
