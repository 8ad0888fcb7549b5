// Logs as an operator reads them: one JSON line per request, nothing secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, request, bytes } from '../helpers/http.js';
import { spawnEdge, tempDir, until } from '../helpers/edge.js';

const TOKEN = 'tok-5f2c9a-very-secret';
const SIG = 'c2lnbmF0dXJlLXNlY3JldA';

test('one JSON line per request with id, method, path, status, cache, bytes, ms; no token or signature', async () => {
  const origin = await TestOrigin.start();
  origin.set('/logs/a.jpg', { body: bytes(5000, 'logs') });
  const edge = await spawnEdge([
    'edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--cache-dir', path.join(tempDir('logs'), 'cache'), '--admin-token', TOKEN,
  ]);
  try {
    await get(edge.url, '/logs/a.jpg');
    await get(edge.url, `/logs/a.jpg?w=10&sig=${SIG}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await get(edge.url, '/logs/../../x');
    await request(edge.adminUrl, '/purge', {
      method: 'POST',
      body: JSON.stringify({ paths: ['/logs/a.jpg'] }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    await until(() => edge.output().includes('"audit":"purge"'), 'the purge audit line');
    const lines = edge.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    assert.equal(requests.length, 3, 'one line per public request');
    for (const line of requests) {
      for (const field of ['reqId', 'method', 'path', 'status', 'cache', 'bytes', 'ms']) assert.ok(field in line, `${field} in ${JSON.stringify(line)}`);
    }
    // A sig to an edge without --signing-key is refused (400), and still kept out of the log.
    assert.deepEqual(requests.map((l) => l.status), [200, 400, 400]);
    assert.equal(requests[0]!.cache, 'miss');
    assert.ok(Number(requests[0]!.bytes) > 5000 && Number(requests[0]!.bytes) < 6000, 'bytes on the wire, head included');
    assert.equal(requests[0]!.complete, true);
    const audit = lines.filter((l) => l.audit === 'purge');
    assert.equal(audit.length, 1);
    assert.deepEqual(audit[0]!.paths, ['/logs/a.jpg']);
    assert.ok(!edge.output().includes(TOKEN), 'the token never appears in the logs');
    assert.ok(!edge.output().includes(SIG), 'the signature never appears in the logs');
  } finally {
    edge.kill('SIGTERM');
    await edge.exited;
    await origin.stop();
  }
});
