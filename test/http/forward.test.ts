import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedHeaders, newPseudonym, passedThrough } from '../../src/http/forward.js';

test('each edge appends its own Via entry, under a pseudonym of its own', () => {
  const me = newPseudonym();
  assert.notEqual(me, newPseudonym());
  assert.match(me, /^imgedge-[0-9a-f]{12}$/);
  assert.equal(forwardedHeaders({ accept: 'image/*' }, me).via, `1.1 ${me}`);
  assert.equal(forwardedHeaders({ via: '1.0 fred, 1.1 p.example.net' }, me).via, `1.0 fred, 1.1 p.example.net, 1.1 ${me}`);
});

test('a request that passed through this edge is known by its Via entry, and only by the received-by part', () => {
  const table: [via: string | string[] | undefined, expected: boolean][] = [
    [undefined, false],
    ['1.1 imgedge-aaaaaaaaaaaa', true],
    ['1.1 other, 1.1 imgedge-aaaaaaaaaaaa (imgedge)', true],
    [['1.0 x', 'HTTP/1.1  imgedge-aaaaaaaaaaaa'], true],
    ['1.1 imgedge-aaaaaaaaaaab', false],
    ['1.1 x (imgedge-aaaaaaaaaaaa)', false],
    ['imgedge-aaaaaaaaaaaa', false],
  ];
  for (const [via, expected] of table) assert.equal(passedThrough(via, 'imgedge-aaaaaaaaaaaa'), expected, String(via));
});
