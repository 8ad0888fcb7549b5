// Finding a checkout of http-cache-tests: the npm release's layout, or its main branch's test-engine/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RELEASE_DIR, locateSuite } from '../scripts/conformance/suite.js';

function checkout(t: { after(fn: () => void): void }, files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-suite-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('locateSuite: the npm release keeps its engine at the top', () => {
  const suite = locateSuite();
  assert.equal(suite.dir, RELEASE_DIR);
  assert.equal(suite.engine, RELEASE_DIR);
  assert.match(suite.version, /^\d+\.\d+\.\d+$/);
});

test("locateSuite: a main-branch checkout keeps it in test-engine/, and SOURCE names the commit", (t) => {
  const dir = checkout(t, {
    'package.json': '{"version": "0.4.5"}', 'tests/index.mjs': '', 'test-engine/cli.mjs': '',
    SOURCE: 'b55b8bda3dbb8c927c04e85bd8d496a8caa3e4ba 2026-07-20\nhttp-tests/cache-tests, main branch\n',
  });
  const suite = locateSuite(dir);
  assert.equal(suite.engine, path.join(dir, 'test-engine'));
  assert.equal(suite.version, '0.4.5 (main b55b8bd, 2026-07-20)');
});

test('locateSuite: a directory that is no checkout of the suite is refused', (t) => {
  const dir = checkout(t, { 'package.json': '{}', 'tests/index.mjs': '' });
  assert.throws(() => locateSuite(dir), /not a checkout of http-cache-tests/);
});
