import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { text } from 'node:stream/consumers';
import { SharedBody, SharedReads } from '../../src/roles/origin/shared-reads.js';

const HOUR = 3_600_000;
const version = (size: number) => ({ size, etag: '"e"', lastModified: new Date(0), contentType: 'image/png' });

test('a shared body reaches a reader that came before its first byte and one that came after its last', async () => {
  const source = new PassThrough();
  const body = new SharedBody(version(6), source);
  const early = text(body.reader());
  source.write('abc');
  source.end('def');
  await body.read;
  assert.equal(await early, 'abcdef');
  assert.equal(await text(body.reader()), 'abcdef');
});

test('a body cut short fails its readers rather than end them early', async () => {
  const source = new PassThrough();
  const body = new SharedBody(version(10), source);
  const reading = text(body.reader());
  source.end('abc');
  await assert.rejects(body.read, /3 of 10 bytes/);
  await assert.rejects(reading, /3 of 10 bytes/);
});

test('reads are held up to the byte limit, the least recently asked dropped first; a failed or unshareable read is not held', async () => {
  const reads = new SharedReads({ maxBytes: 10, maxObjectBytes: 10 });
  const done = (size: number) => {
    const source = new PassThrough();
    source.end(Buffer.alloc(size));
    return new SharedBody(version(size), source);
  };
  reads.begin('/a', Promise.resolve(done(4)));
  reads.begin('/b', Promise.resolve(done(4)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(reads.find('/a', HOUR), 'asked again: now the most recent');
  reads.begin('/c', Promise.resolve(done(4)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reads.find('/b', HOUR), undefined);
  assert.ok(reads.find('/a', HOUR) && reads.find('/c', HOUR));
  assert.equal(reads.bytes, 8);

  reads.begin('/gone', Promise.resolve(null));
  const broken = new PassThrough();
  reads.begin('/broken', Promise.resolve(new SharedBody(version(5), broken)));
  broken.destroy(new Error('reset'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reads.find('/gone', HOUR), undefined);
  assert.equal(reads.find('/broken', HOUR), undefined);

  reads.dropWhere((name) => name.startsWith('/a'));
  assert.equal(reads.find('/a', HOUR), undefined);
  assert.equal(reads.bytes, 4);
});

test('a read dropped while under way goes on for those who joined it, and no one joins it after', async () => {
  const reads = new SharedReads({ maxBytes: 100, maxObjectBytes: 100 });
  const source = new PassThrough();
  const body = new SharedBody(version(4), source);
  reads.begin('/a', Promise.resolve(body));
  const joined = reads.find('/a', HOUR)!;
  reads.drop('/a');
  assert.equal(reads.find('/a', HOUR), undefined);
  const reading = text((await joined)!.reader());
  source.end('abcd');
  assert.equal(await reading, 'abcd');
});

test('a read is handed out only while younger than the age asked for (the origin\'s max-age)', async () => {
  const reads = new SharedReads({ maxBytes: 100, maxObjectBytes: 100 });
  const source = new PassThrough();
  source.end('abcd');
  reads.begin('/a', Promise.resolve(new SharedBody(version(4), source)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(reads.find('/a', 20));
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(reads.find('/a', 20), undefined);
  assert.equal(reads.bytes, 0);
});
