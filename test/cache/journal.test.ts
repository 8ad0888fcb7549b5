// index.log: parsing what a crash may have left, and a real Journal written and read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { JournalReader, Journal, type JournalEntry, type JournalState } from '../../src/cache/journal.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-journal-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const entry = (file: string, size: number, key: string): JournalEntry => ({ key, file, size });
const add = (e: JournalEntry): string => `+ ${e.file} ${e.size} ${e.key}\n`;
const remove = (file: string): string => `- ${file}\n`;

/** The journal's state from its whole text given at once. */
function parseJournal(text: string): JournalState {
  const reader = new JournalReader();
  reader.push(text);
  const { tornTail: _, ...state } = reader.end();
  return state;
}

test('parseJournal: adds, removes, replacements and use order', () => {
  const a1 = entry('ab/a1', 10, '/a.jpg');
  const a2 = entry('cd/a2', 20, '/a.jpg');
  const b = entry('ef/b', 30, '/b.jpg?w=200&format=webp');
  const c = entry('12/c', 0, '/c d.jpg');
  const table: [text: string, expected: JournalState, why: string][] = [
    ['', { entries: [], superseded: [], lines: 0 }, 'empty'],
    ['\n\n', { entries: [], superseded: [], lines: 0 }, 'blank lines'],
    [add(a1), { entries: [a1], superseded: [], lines: 1 }, 'one add'],
    [add(a1) + add(b) + add(c), { entries: [a1, b, c], superseded: [], lines: 3 }, 'keys with a query and a space'],
    [add(a1) + remove(a1.file), { entries: [], superseded: [a1.file], lines: 2 }, 'add then remove'],
    [add(a1) + add(a2), { entries: [a2], superseded: [a1.file], lines: 2 }, 'a new version supersedes the old file'],
    [add(a1) + add(a2) + remove(a1.file), { entries: [a2], superseded: [a1.file], lines: 3 }, 'removing the old file keeps the new one'],
    [add(a1) + add(a2) + remove(a2.file), { entries: [], superseded: [a1.file, a2.file], lines: 3 }, 'removing the current file'],
    [add(a1) + add(b) + add(a1), { entries: [b, a1], superseded: [], lines: 3 }, 're-adding moves to the young end'],
    [add(a1) + add(b) + add(c) + add(b), { entries: [a1, c, b], superseded: [], lines: 4 }, 'use order kept'],
    [add(a1) + remove(a1.file) + add(a1), { entries: [a1], superseded: [], lines: 3 }, 'a file added again is live, not superseded'],
    [remove('zz/unknown'), { entries: [], superseded: ['zz/unknown'], lines: 1 }, 'removing a file never added'],
    [add(a1) + '+ ab/x -1 /n\n+ ab/x 1.5 /n\n+ ab/x abc /n\n+ ab/x 1 relative\n+ ab/x 9007199254740993 /n\n', { entries: [a1], superseded: [], lines: 6 }, 'bad adds skipped'],
    [add(a1) + 'garbage\n# note\n+\n+ \n-\n', { entries: [a1], superseded: [], lines: 6 }, 'unknown lines skipped'],
    // A crash mid-append leaves a torn last line, which is skipped.
    [add(a1) + '+ cd/a2 2', { entries: [a1], superseded: [], lines: 1 }, 'torn inside the size'],
    [add(a1) + '+ cd/a2', { entries: [a1], superseded: [], lines: 1 }, 'torn inside the file'],
    [add(a1) + '+ cd/a2 20 ', { entries: [a1], superseded: [], lines: 1 }, 'torn before the key'],
    [add(a1) + '+', { entries: [a1], superseded: [], lines: 1 }, 'torn after the sign'],
    ['\n' + add(a1) + add(b).slice(0, -1), { entries: [a1], superseded: [], lines: 1 }, 'torn, after a first blank line'],
    [add(a1) + '+ ab/x\n+ ab/x 1\n+ ab/x 1 \n', { entries: [a1], superseded: [], lines: 4 }, 'adds lacking fields skipped'],
  ];
  for (const [text, expected, why] of table) assert.deepEqual(parseJournal(text), expected, why);
});

test(
  'parseJournal: a last line without its newline is torn, whatever it holds',
  () => {
    const a = entry('ab/f1', 10, '/x.jpg');
    assert.deepEqual(parseJournal(`${add(a)}+ cd/f2 20 /photos/ca`).entries, [a]);
    assert.deepEqual(parseJournal(`${add(a)}+ cd/f2 20 /a.jpg?w=2`).entries, [a]);
    assert.deepEqual(parseJournal(`${add(a)}- ab/f`).entries, [a]);
  },
);

test(
  'Journal: an append after loading a torn file starts on a line of its own',
  async (t) => {
    const dir = tempDir(t);
    const a = entry('ab/f1', 10, '/x.jpg');
    const b = entry('ef/f3', 5, '/new.jpg');
    fs.writeFileSync(path.join(dir, 'index.log'), `${add(a)}+ cd/f2 2`);
    const first = await Journal.load(dir);
    assert.deepEqual(first.state.entries, [a]);
    first.journal.added(b);
    await first.journal.close();
    const second = await Journal.load(dir);
    await second.journal.close();
    assert.deepEqual(second.state.entries, [a, b]);
  },
);

type Op = { kind: 'add'; key: number; file: number; size: number } | { kind: 'remove'; file: number };

const ops = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), key: fc.nat(5), file: fc.nat(9), size: fc.nat(1000) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), file: fc.nat(9) }) },
  ),
  { maxLength: 30 },
);

const keyOf = (n: number): string => `/k${n}.jpg?v=${n}`;
const fileOf = (n: number): string => `${n.toString(16).padStart(2, '0')}/f${n}`;

/** The live set as the cache index keeps it: the last add of a key wins, removal of its current file drops it. */
function model(list: Op[]): JournalEntry[] {
  const live = new Map<string, JournalEntry>();
  const fileKey = new Map<string, string>();
  for (const op of list) {
    if (op.kind === 'add') {
      const e = entry(fileOf(op.file), op.size, keyOf(op.key));
      const holder = fileKey.get(e.file);
      // A file belongs to one key at a time, as real files do.
      if (holder !== undefined && holder !== e.key && live.get(holder)?.file === e.file) continue;
      live.delete(e.key);
      live.set(e.key, e);
      fileKey.set(e.file, e.key);
    } else {
      const key = fileKey.get(fileOf(op.file));
      if (key !== undefined && live.get(key)?.file === fileOf(op.file)) live.delete(key);
    }
  }
  return [...live.values()];
}

/** Ops that respect "a file belongs to one key" (what the cache writes). */
function realistic(list: Op[]): Op[] {
  const owner = new Map<number, number>();
  return list.filter((op) => {
    if (op.kind === 'remove') return true;
    const holder = owner.get(op.file);
    if (holder !== undefined && holder !== op.key) return false;
    owner.set(op.file, op.key);
    return true;
  });
}

function render(list: Op[]): string {
  return list.map((op) => (op.kind === 'add' ? add(entry(fileOf(op.file), op.size, keyOf(op.key))) : remove(fileOf(op.file)))).join('');
}

test('property: parseJournal gives the model\'s live entries in use order; no live file is superseded', () => {
  fc.assert(
    fc.property(ops, (raw) => {
      const list = realistic(raw);
      const state = parseJournal(render(list));
      assert.deepEqual(state.entries, model(list));
      assert.equal(state.lines, list.length);
      const liveFiles = new Set(state.entries.map((e) => e.file));
      for (const file of state.superseded) assert.ok(!liveFiles.has(file), `${file} is both live and superseded`);
      assert.equal(new Set(state.entries.map((e) => e.key)).size, state.entries.length, 'one entry per key');
    }),
    { seed: 42, numRuns: 500 },
  );
});

test('property: a torn last line that is not a whole add never changes the live entries before it', () => {
  fc.assert(
    fc.property(ops, ops, fc.nat(), (before, after, cut) => {
      const list = realistic(before);
      const text = render(list);
      const next = render(realistic([...before, ...after]).slice(list.length)).split('\n')[0] ?? '';
      // Cut the next line inside its file or size field: always recognisably torn.
      const fields = next.split(' ');
      const limit = next.startsWith('+') ? fields.slice(0, 3).join(' ').length : 1;
      const torn = next.slice(0, cut % limit);
      assert.deepEqual(parseJournal(text + torn).entries, model(list));
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('property: the text in pieces cut anywhere gives what it gives whole; its tail is torn when it lacks a newline', () => {
  fc.assert(
    fc.property(ops, fc.string(), fc.array(fc.nat()), (raw, tail, cuts) => {
      const text = render(realistic(raw)) + tail.replaceAll('\n', ' ');
      const reader = new JournalReader();
      let from = 0;
      for (const cut of cuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b)) {
        reader.push(text.slice(from, cut));
        from = cut;
      }
      reader.push(text.slice(from));
      const { tornTail, ...state } = reader.end();
      assert.deepEqual(state, parseJournal(text));
      assert.equal(tornTail, !text.endsWith('\n') && text !== '');
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('Journal: a file of many reads loads whole, a character cut by a read included, and a torn tail after it', async (t) => {
  const dir = tempDir(t);
  const entries = Array.from({ length: 5000 }, (_, n) => entry(fileOf(n), n, `/фото/${n}/${'é'.repeat(n % 50)}.jpg`));
  const text = entries.map(add).join('');
  const bytes = Buffer.from(text);
  const readBytes = 64 * 1024;
  const cutByARead = Array.from({ length: Math.floor(bytes.length / readBytes) }, (_, k) => bytes[(k + 1) * readBytes]!);
  assert.ok(cutByARead.some((byte) => (byte & 0xc0) === 0x80), 'a read ends inside a character');
  fs.writeFileSync(path.join(dir, 'index.log'), `${text}+ ab/torn 1`);
  const { journal, state } = await Journal.load(dir);
  await journal.close();
  assert.deepEqual(state, { entries, superseded: [], lines: entries.length });
  assert.ok(fs.readFileSync(path.join(dir, 'index.log'), 'utf8').endsWith('+ ab/torn 1\n'), 'the torn line ended before any append');
});

test('Journal: appends survive close and load; compact rewrites just the live entries', async (t) => {
  const dir = tempDir(t);
  const first = await Journal.load(dir);
  assert.deepEqual(first.state, { entries: [], superseded: [], lines: 0 });
  const a1 = entry('ab/a1', 10, '/a.jpg');
  const a2 = entry('ab/a2', 11, '/a.jpg');
  const b = entry('cd/b', 20, '/b.jpg?w=1');
  const c = entry('ef/c', 30, '/c.jpg');
  first.journal.added(a1);
  first.journal.added(b);
  first.journal.added(a2);
  first.journal.added(c);
  first.journal.removed(c.file);
  assert.equal(first.journal.lines, 5);
  await first.journal.close();
  assert.equal(fs.readFileSync(path.join(dir, 'index.log'), 'utf8'), add(a1) + add(b) + add(a2) + add(c) + remove(c.file));

  const second = await Journal.load(dir);
  assert.deepEqual(second.state.entries, [b, a2]);
  assert.deepEqual(new Set(second.state.superseded), new Set([a1.file, c.file]));
  assert.equal(second.journal.lines, 5);
  await second.journal.compact(() => second.state.entries);
  assert.equal(second.journal.lines, 2);
  assert.equal(fs.readFileSync(path.join(dir, 'index.log'), 'utf8'), add(b) + add(a2));
  assert.ok(!fs.existsSync(path.join(dir, 'index.log.tmp')), 'no temp file left');
  // Appends after a compaction go to the new file.
  second.journal.added(c);
  assert.equal(second.journal.lines, 3);
  await second.journal.close();

  const third = await Journal.load(dir);
  assert.deepEqual(third.state.entries, [b, a2, c]);
  assert.deepEqual(third.state.superseded, []);
  await third.journal.close();
});

test('Journal: appends made while a compaction runs are kept after it', async (t) => {
  const dir = tempDir(t);
  const { journal } = await Journal.load(dir);
  const a = entry('ab/a', 1, '/a');
  const b = entry('ab/b', 2, '/b');
  const c = entry('ab/c', 3, '/c');
  journal.added(a);
  const compaction = journal.compact(() => [a]);
  // One compaction at a time: a second call joins the first.
  assert.equal(journal.compact(() => []), compaction);
  journal.added(b);
  journal.added(c);
  journal.removed(a.file);
  await compaction;
  assert.equal(journal.lines, 4);
  await journal.close();
  const reloaded = await Journal.load(dir);
  assert.deepEqual(reloaded.state.entries, [b, c]);
  assert.deepEqual(reloaded.state.superseded, [a.file]);
  await reloaded.journal.close();
});

test('property: a Journal written with any ops reads back as parseJournal of what was written', async (t) => {
  const root = tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(ops, fc.boolean(), async (raw, compactHalfway) => {
      const dir = path.join(root, String(run++));
      fs.mkdirSync(dir);
      const list = realistic(raw);
      const { journal } = await Journal.load(dir);
      const half = Math.floor(list.length / 2);
      for (const [i, op] of list.entries()) {
        if (compactHalfway && i === half) await journal.compact(() => model(list.slice(0, half)));
        if (op.kind === 'add') journal.added(entry(fileOf(op.file), op.size, keyOf(op.key)));
        else journal.removed(fileOf(op.file));
      }
      await journal.close();
      const { journal: again, state } = await Journal.load(dir);
      await again.close();
      assert.deepEqual(state.entries, model(list));
    }),
    { seed: 42, numRuns: 40 },
  );
});

test('Journal: an append after a torn tail that follows a blank first line is its own line', async (t) => {
  const dir = tempDir(t);
  const a = entry('ab/a', 1, '/a');
  const c = entry('ab/c', 3, '/c');
  fs.writeFileSync(path.join(dir, 'index.log'), `\n${add(a)}+ ab/b 2`);
  const { journal, state } = await Journal.load(dir);
  assert.deepEqual(state.entries, [a]);
  journal.added(c);
  await journal.close();
  const again = await Journal.load(dir);
  await again.journal.close();
  assert.deepEqual(again.state.entries, [a, c]);
});

test('Journal: an index.log that cannot be read (a directory) is an error, not an empty journal', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'index.log'));
  await assert.rejects(Journal.load(dir), (error: NodeJS.ErrnoException) => error.code === 'EISDIR');
});

/** How this process has a file open for writing: 'append' (the journal's stream) or 'write', one per fd. */
function writersOf(file: string): string[] {
  const found: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) !== file) continue;
      const flags = Number.parseInt(/flags:\s*([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      found.push(flags & fs.constants.O_APPEND ? 'append' : 'write');
    } catch {
      // Closed while listed.
    }
  }
  return found;
}

test('Journal: load, compact and close leave no file open, and closing twice is harmless', async (t) => {
  const dir = tempDir(t);
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const before = fds();
  const { journal } = await Journal.load(dir);
  journal.added(entry('ab/a', 1, '/a'));
  await journal.compact(() => [entry('ab/a', 1, '/a')]);
  // The journal's own stream appends; the compaction's temp file, written and renamed, is closed by its end.
  assert.ok(!writersOf(path.join(dir, 'index.log')).includes('write'));
  journal.added(entry('ab/b', 2, '/b'));
  await journal.close();
  await journal.close();
  // The stream's fd closes just after it has finished.
  const deadline = Date.now() + 5000;
  while (fds() > before) {
    if (Date.now() > deadline) assert.fail(`${fds() - before} file(s) left open`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.equal(fs.readFileSync(path.join(dir, 'index.log'), 'utf8'), add(entry('ab/a', 1, '/a')) + add(entry('ab/b', 2, '/b')));
});

test('a journal whose file cannot be written reports it once and goes on without it, instead of stopping the process', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-journal-'));
  try {
    // index.log leads nowhere: read, it is empty; opened for appending, it fails.
    fs.symlinkSync(path.join(dir, 'missing', 'index.log'), path.join(dir, 'index.log'));
    const errors: Error[] = [];
    const { journal } = await Journal.load(dir, (error) => errors.push(error));
    journal.added({ key: '/a.jpg', file: 'f1', size: 10 });
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    journal.added({ key: '/b.jpg', file: 'f2', size: 10 });
    journal.removed('f1');
    await journal.close();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOENT');

    // A compaction writes a new file in its place, and appends go on there.
    const { journal: again } = await Journal.load(dir, (error) => errors.push(error));
    await again.compact(() => [{ key: '/c.jpg', file: 'f3', size: 10 }]);
    again.added({ key: '/d.jpg', file: 'f4', size: 10 });
    await again.close();
    assert.equal(errors.length, 2, 'the new stream failed before the compaction, once');
    assert.equal(fs.readFileSync(path.join(dir, 'index.log'), 'utf8'), '+ f3 10 /c.jpg\n+ f4 10 /d.jpg\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
