// An edge whose log reader went away (a crashed log shipper, a closed pipe):
// it keeps serving, and a stop still ends within a bound, with exit 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, tempDir } from '../helpers/edge.js';

const dirs: string[] = [];
let origin: TestOrigin | undefined;

after(async () => {
  await origin?.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test('with its stdout reader gone, the edge serves on and stops on SIGTERM with exit 0', async () => {
  origin = await TestOrigin.start();
  const body = bytes(20_000, 'stdout');
  origin.set('/s.jpg', { body });
  const dir = tempDir('stdout');
  dirs.push(dir);
  const edge = await spawnEdge(['edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--cache-dir', path.join(dir, 'cache'), '--log-level', 'info', '--drain-timeout-ms', '2000']);
  try {
    edge.child.stdout!.destroy();
    // Enough access lines to fill the log's buffer many times over: every write now fails with EPIPE.
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => get(edge.url, `/s.jpg?r=${round}-${i}`)));
      for (const answer of answers) assert.equal(sha256(answer.body), sha256(body));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(edge.child.exitCode, null, 'the edge is still running');
    const started = Date.now();
    edge.kill('SIGTERM');
    const exit = await Promise.race([edge.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000))]);
    assert.ok(exit, `no exit ${Date.now() - started} ms after SIGTERM`);
    assert.deepEqual(exit, { code: 0, signal: null });
  } finally {
    edge.kill('SIGKILL');
    await edge.exited;
  }
});
