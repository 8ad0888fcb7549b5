import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalTransform, parseImageQuery } from '../../src/transform/params.js';
import { ImageRequests } from '../../src/transform/request.js';
import { BadTransform } from '../../src/errors.js';

test('every order and spelling of one transform is one key; other parameters stay the source\'s, as sent', () => {
  const images = new ImageRequests();
  const a = images.resolve('/p.jpg', '/p.jpg', 'w=200&format=webp').key;
  assert.equal(a, '/p.jpg#format=webp&w=200');
  assert.equal(images.resolve('/p.jpg', '/p.jpg', 'format=webp&w=200').key, a);
  assert.equal(images.resolve('/p.jpg', '/p.jpg', '%77=200&format=webp').key, a);
  assert.equal(images.resolve('/p.jpg', '/p.jpg', 'v=a%20b&w=200&x').key, '/p.jpg?v=a%20b&x#w=200');
  assert.equal(images.resolve('/p.jpg', '/p.jpg', 'v=2').key, '/p.jpg?v=2');
  assert.equal(images.resolve('/p.jpg', '/p.jpg', 'v=%20&&x').key, '/p.jpg?v=%20&&x');
  assert.equal(images.resolve('/p.jpg', '/p.jpg', '').key, '/p.jpg');
  // fit counts with both sides only, and its default is left out.
  assert.equal(canonicalTransform({ w: 10, fit: 'contain' }), 'w=10');
  assert.equal(canonicalTransform({ w: 10, h: 5, fit: 'cover' }), 'h=5&w=10');
  assert.equal(canonicalTransform({ w: 10, h: 5, fit: 'contain' }), 'fit=contain&h=5&w=10');
  // The hit paths key exactly as the app does.
  assert.equal(images.hitKey('/p.jpg', 'format=webp&w=200'), a);
  assert.equal(images.hitKey('/p.jpg', 'w=0'), null);
});

test('each parameter out of its range is a 400 naming it and what it allows', () => {
  const table: [query: string, param: string, allowed: RegExp][] = [
    ['w=0', 'w', /1 to 8192/], ['w=8193', 'w', /1 to 8192/], ['w=abc', 'w', /integer/], ['w=', 'w', /integer/],
    ['w=01', 'w', /integer/], ['h=-1', 'h', /1 to 8192/], ['q=101', 'q', /1 to 100/], ['q=0', 'q', /1 to 100/],
    ['fit=stretch', 'fit', /cover, contain, fill, inside, outside/], ['format=gif', 'format', /auto, webp, avif, jpeg, png/],
    ['w=1&w=2', 'w', /twice/], ['sig=abc', 'sig', /transform/],
  ];
  for (const [query, param, allowed] of table) {
    assert.throws(() => parseImageQuery(query), (error: unknown) => {
      assert.ok(error instanceof BadTransform, query);
      assert.equal(error.status, 400);
      assert.equal(error.param, param, query);
      assert.match(error.message, new RegExp(`^${param}: allowed values are`));
      assert.match(error.message, allowed, query);
      return true;
    });
  }
});

test('--allowed-widths refuses other widths; a sig without a signing key is refused', () => {
  const images = new ImageRequests({ allowedWidths: [160, 320] });
  assert.equal(images.resolve('/a', '/a', 'w=320').key, '/a#w=320');
  assert.throws(() => images.resolve('/a', '/a', 'w=300'), /w: allowed values are 160, 320/);
  assert.throws(() => new ImageRequests().resolve('/a', '/a', 'w=1&sig=x'), BadTransform);
});
