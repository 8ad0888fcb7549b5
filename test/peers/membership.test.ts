import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership, followDns, memberUrl } from '../../src/peers/membership.js';
import { deriveSelf } from '../../src/peers/self.js';
import { ownerOf } from '../../src/peers/ring.js';
import { TestClock, until } from '../helpers/edge.js';

const A = 'http://10.0.0.1:8080';
const B = 'http://10.0.0.2:8080';
const C = 'http://10.0.0.3:8080';

test('a peer marked down gives its keys to the next member for each, and gets them back after a while', () => {
  const clock = new TestClock();
  const membership = new Membership({ self: A, downMs: 5000, now: clock.now }, [B, C]);
  assert.deepEqual(membership.members, [A, B, C]);
  const ownedByC = Array.from({ length: 100 }, (_, i) => `/k${i}`).filter((k) => membership.owner(k) === C);
  assert.ok(ownedByC.length > 0);
  membership.markDown(C);
  assert.equal(membership.down, 1);
  for (const key of ownedByC) assert.equal(membership.owner(key), ownerOf(key, [A, B]));
  membership.markDown(A); // never itself
  assert.equal(membership.down, 1);
  clock.advance(6);
  assert.equal(membership.down, 0);
  for (const key of ownedByC) assert.equal(membership.owner(key), C);
});

test('a key\'s stand-in is the live member that owns it when this one is left out; none without a live peer', () => {
  const clock = new TestClock();
  const membership = new Membership({ self: A, downMs: 5000, now: clock.now }, [B, C]);
  const keys = Array.from({ length: 100 }, (_, i) => `/k${i}`);
  for (const key of keys) assert.equal(membership.standIn(key), ownerOf(key, [B, C]));
  // Where another member owns a key, its stand-in is that owner: the key was never this one's.
  for (const key of keys.filter((k) => membership.owner(k) !== A)) assert.equal(membership.standIn(key), membership.owner(key));
  membership.markDown(C);
  for (const key of keys) assert.equal(membership.standIn(key), B);
  membership.markDown(B);
  for (const key of keys) assert.equal(membership.standIn(key), undefined);
  assert.equal(new Membership({ self: A, downMs: 5000 }).standIn('/k1'), undefined);
});

test('members from DNS: A and AAAA addresses on the replica port, followed as they change, the last kept on failure', async () => {
  let answer: string[] | Error = ['10.0.0.2', 'fd00::7'];
  let failures = 0;
  const changes: (readonly string[])[] = [];
  const membership = new Membership({ self: A, downMs: 1000 });
  const stop = await followDns(membership, {
    name: 'imgedge-headless.ns.svc',
    protocol: 'http:',
    port: 8080,
    intervalMs: 20,
    resolve: async (name) => {
      assert.equal(name, 'imgedge-headless.ns.svc');
      if (answer instanceof Error) throw answer;
      return answer;
    },
    failed: () => failures++,
    changed: (members) => changes.push(members),
  });
  try {
    assert.deepEqual(membership.members, [A, B, 'http://[fd00::7]:8080'].sort());
    answer = new Error('SERVFAIL');
    await until(() => failures > 0, 'a failed lookup');
    assert.equal(membership.members.length, 3);
    answer = ['10.0.0.1', '10.0.0.3'];
    await until(() => membership.members.includes(C), 'the new replica set');
    assert.deepEqual(membership.members, [A, C]);
    answer = [];
    await until(() => membership.members.length === 1, 'no replica but this one');
    assert.deepEqual(membership.members, [A]);
    assert.ok(changes.length >= 2);
  } finally {
    stop();
  }
});

test('this replica derived: the listen address, or the listed peer on this host, or the first external address', () => {
  const host = [
    { address: '127.0.0.1', internal: true, family: 'IPv4' },
    { address: '10.1.2.3', internal: false, family: 'IPv4' },
    { address: 'fd00::3', internal: false, family: 'IPv6' },
  ];
  assert.equal(deriveSelf({ host: '10.9.9.9', port: 8080 }, undefined, host), 'http://10.9.9.9:8080');
  assert.equal(deriveSelf({ host: '0.0.0.0', port: 8080 }, [new URL(B), new URL('http://10.1.2.3:8080')], host), 'http://10.1.2.3:8080');
  assert.equal(deriveSelf({ host: '0.0.0.0', port: 9000 }, [new URL('http://10.1.2.3:8080')], host), null);
  assert.equal(deriveSelf({ host: '0.0.0.0', port: 8080 }, undefined, host), 'http://10.1.2.3:8080');
  assert.equal(deriveSelf({ host: '::', port: 8080 }, undefined, [host[2]!]), 'http://[fd00::3]:8080');
  assert.equal(deriveSelf({ host: '0.0.0.0', port: 8080 }, undefined, [host[0]!]), null);
  assert.equal(memberUrl('http:', 'fd00::1', 80), 'http://[fd00::1]');
});

test('a peer that refused the connection is set aside for a moment only; setting aside is news once in the long while', () => {
  const clock = new TestClock();
  const membership = new Membership({ self: A, downMs: 10_000, refusedDownMs: 1000, now: clock.now }, [B, C]);
  assert.equal(membership.markDown(C, true), true);
  assert.equal(membership.markDown(C, true), false);
  assert.equal(membership.down, 1);
  clock.advance(1.5);
  assert.equal(membership.down, 0);
  // Tried again and refused again, a moment later: set aside again, but no news.
  assert.equal(membership.markDown(C, true), false);
  assert.equal(membership.down, 1);
  clock.advance(11);
  assert.equal(membership.markDown(C, true), true);
  // No acknowledgement costs a timeout each try: that one stays aside the long while.
  assert.equal(membership.markDown(B), true);
  clock.advance(5);
  assert.equal(membership.down, 1);
  clock.advance(6);
  assert.equal(membership.down, 0);
  assert.equal(membership.markDown(A, true), false);
});
