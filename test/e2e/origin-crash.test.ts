// The origin killed with SIGKILL in the middle of uploads and deletes: after
// a restart every file is a whole version that was uploaded, every file's
// current version is the last the log says for its path, every acknowledged
// write is in the log, and nothing is left pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnOrigin, samplePng, TOKEN, type OriginProcess } from '../helpers/imgedge-origin.js';
import { tempDir } from '../helpers/edge.js';
import { parseChangesPage } from '../../src/changelog/wire.js';
import type { ChangeEntry } from '../../src/changelog/log.js';

const PATHS = Array.from({ length: 6 }, (_, i) => `/k/${i}.png`);
const etagOf = (body: Buffer) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;

async function allEntries(url: string): Promise<ChangeEntry[]> {
  const entries: ChangeEntry[] = [];
  for (let from = 1; ; ) {
    const page = parseChangesPage(await (await fetch(`${url}/.imgedge/changes?from=${from}`)).json());
    entries.push(...page.entries);
    if (page.entries.length === 0 || page.entries.at(-1)!.seq >= page.last) return entries;
    from = page.entries.at(-1)!.seq + 1;
  }
}

test('SIGKILL in the middle of uploads: every file old or new and whole, its version the last in the log, every acknowledged write logged', { timeout: 90_000 }, async (t) => {
  const root = path.join(tempDir('crash'), 'root');
  // Bodies large enough that a kill lands inside some of them.
  const bodies = await Promise.all(Array.from({ length: 24 }, (_, i) => samplePng(i + 1, 300 + i, 300)));
  const known = new Map(bodies.map((b) => [etagOf(b), b]));
  const acknowledged: { path: string; op: 'put' | 'delete'; etag?: string }[] = [];
  let origin: OriginProcess | null = null;
  t.after(() => origin?.kill('SIGKILL'));

  for (let round = 0; round < 3; round++) {
    origin = await spawnOrigin(['--root', root, '--upload-token', TOKEN]);
    const url = origin.url;
    let stop = false;
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let n = 0; !stop; n++) {
        const target = PATHS[(w + n) % PATHS.length]!;
        try {
          if (n % 7 === 6) {
            const res = await fetch(url + target, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
            if (res.status === 204) acknowledged.push({ path: target, op: 'delete' });
          } else {
            const body = bodies[(w * 5 + n) % bodies.length]!;
            const res = await fetch(url + target, { method: 'PUT', body, headers: { authorization: `Bearer ${TOKEN}` } });
            if (res.status === 201 || res.status === 204) acknowledged.push({ path: target, op: 'put', etag: res.headers.get('etag')! });
          }
        } catch {
          return; // the origin is gone
        }
      }
    });
    // Let writes pile up, then kill mid-flight.
    const before = acknowledged.length;
    while (acknowledged.length < before + 40) await new Promise((resolve) => setTimeout(resolve, 5));
    origin.kill('SIGKILL');
    stop = true;
    await origin.exited;
    await Promise.all(writers);
  }

  origin = await spawnOrigin(['--root', root, '--upload-token', TOKEN]);
  const entries = await allEntries(origin.url);
  assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1), 'numbered without holes');
  for (const write of acknowledged) {
    assert.ok(entries.some((e) => e.path === write.path && e.op === write.op && e.etag === write.etag), `acknowledged ${write.op} ${write.path} ${write.etag ?? ''} is in the log`);
  }
  for (const target of PATHS) {
    const last = entries.filter((e) => e.path === target).at(-1);
    const file = path.join(root, target);
    if (!last || last.op === 'delete') {
      assert.equal(fs.existsSync(file), false, `${target}: deleted last, so absent`);
      continue;
    }
    const body = fs.readFileSync(file);
    assert.ok(known.has(etagOf(body)), `${target} is one of the uploads, whole`);
    assert.equal(etagOf(body), last.etag, `${target} is the version the log names last`);
    const served = await fetch(origin.url + target);
    assert.equal(served.headers.get('etag'), last.etag);
  }
  assert.deepEqual(fs.readdirSync(path.join(root, '.imgedge', 'tmp')), [], 'nothing left pending');
  t.diagnostic(`${acknowledged.length} writes acknowledged over 3 kills; ${entries.length} log entries`);
});

test('SIGTERM: the origin answers its long polls, finishes, and exits 0', { timeout: 30_000 }, async () => {
  const root = path.join(tempDir('sigterm'), 'root');
  const origin = await spawnOrigin(['--root', root, '--upload-token', TOKEN]);
  const poll = fetch(`${origin.url}/.imgedge/changes?from=1&wait=30`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = Date.now();
  origin.kill('SIGTERM');
  const page = parseChangesPage(await (await poll).json());
  assert.deepEqual(page.entries, []);
  assert.deepEqual(await origin.exited, { code: 0, signal: null });
  assert.ok(Date.now() - started < 10_000, 'not held for the long poll');
});
