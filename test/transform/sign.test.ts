import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageRequests } from '../../src/transform/request.js';
import { BadSignature } from '../../src/errors.js';
import { signature, signedMessage, signUrl } from '../../src/transform/sign.js';

test('signing: the contract\'s message, a test vector, and 403 for a missing or wrong sig', () => {
  assert.equal(signedMessage('/photos/cat.jpg', 'w=200&format=webp'), '/photos/cat.jpg?format=webp&w=200');
  assert.equal(signedMessage('/a%20b.jpg', 'b=2&a=x+y&a=1&sig=zz'), '/a%20b.jpg?a=1&a=x+y&b=2');
  // Computed apart from this code (Python's hmac); the README gives the same.
  const vector = 'g-XYhYEXoRPk-xT3XdT7kdl8fpfCFZgoeiFKBPHkt5k';
  assert.equal(signature('imgedge-test-key', '/photos/cat.jpg?format=webp&w=200'), vector);
  const images = new ImageRequests({ signingKey: 'imgedge-test-key' });
  assert.equal(images.resolve('/photos/cat.jpg', '/photos/cat.jpg', `w=200&format=webp&sig=${vector}`).key, '/photos/cat.jpg#format=webp&w=200');
  assert.throws(() => images.resolve('/photos/cat.jpg', '/photos/cat.jpg', 'w=200&format=webp'), BadSignature);
  assert.throws(() => images.resolve('/photos/cat.jpg', '/photos/cat.jpg', `w=201&format=webp&sig=${vector}`), BadSignature);
  assert.throws(() => images.resolve('/photos/cat.jpg', '/photos/cat.jpg', 'w=200&format=webp&sig=short'), BadSignature);
  // Without transform parameters no sig is needed; the hit paths refuse to answer a bad one.
  assert.equal(images.resolve('/photos/cat.jpg', '/photos/cat.jpg', 'v=1').key, '/photos/cat.jpg?v=1');
  assert.equal(images.hitKey('/photos/cat.jpg', 'w=200&format=webp'), null);
});

test('imgedge sign appends the sig to a path or an absolute URL, nothing else changed', () => {
  const vector = 'g-XYhYEXoRPk-xT3XdT7kdl8fpfCFZgoeiFKBPHkt5k';
  assert.equal(signUrl('imgedge-test-key', '/photos/cat.jpg?w=200&format=webp'), `/photos/cat.jpg?w=200&format=webp&sig=${vector}`);
  assert.equal(signUrl('imgedge-test-key', 'https://img.example:8443/photos/cat.jpg?w=200&format=webp#top'),
    `https://img.example:8443/photos/cat.jpg?w=200&format=webp&sig=${vector}`);
  assert.equal(signUrl('k', '/a.jpg'), `/a.jpg?sig=${signature('k', '/a.jpg')}`);
});
