// The Dockerfile lints clean (dockerfile-utils, every finding counts) and
// keeps to the contract's "Container image": Node 24 from ARG BASE, a
// non-root numeric user, the imgedge entrypoint in exec form (no shell as
// PID 1), state only in the two volumes the defaults name. The image itself
// is built and run by .ci/run (the container check), not here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { PROJECT_ROOT } from '../helpers/edge.js';

const dockerfile = fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
const dockerignore = fs.readFileSync(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8');

/** Instructions with their continuation lines joined, comments left out. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => {
    const space = line.indexOf(' ');
    return { op: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
  });
const finalStage = instructions.slice(instructions.findLastIndex((i) => i.op === 'FROM'));
const finalOf = (op: string) => finalStage.filter((i) => i.op === op).map((i) => i.args);

test('the Dockerfile lints clean', () => {
  const findings = validate(dockerfile).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  assert.deepEqual(findings, []);
});

test('the linter reports faults (so a clean result means something)', () => {
  assert.ok(validate('FROM x\nHEALTHCHECK --interval=1x CMD true\n').length > 0);
});

test('every stage starts from ARG BASE, a Node 24 image by default', () => {
  assert.ok(instructions.some((i) => i.op === 'ARG' && i.args === 'BASE=node:24-slim'));
  const froms = instructions.filter((i) => i.op === 'FROM').map((i) => i.args.split(' ')[0]);
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const from of froms) assert.equal(from, '${BASE}');
});

test('production dependencies only, installed from the lock file', () => {
  assert.ok(instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args)));
});

test('the final stage runs as a numeric non-root user', () => {
  const [user] = finalOf('USER').slice(-1);
  assert.match(user ?? '', /^[1-9]\d*(:\d+)?$/);
});

test('the entrypoint is imgedge in exec form, so node is PID 1 and gets SIGTERM', () => {
  assert.deepEqual(finalOf('ENTRYPOINT').map((a) => JSON.parse(a) as unknown), [['imgedge']]);
  assert.deepEqual(finalOf('STOPSIGNAL'), ['SIGTERM']);
});

test('the defaults put state in volumes: the edge cache and the origin root', () => {
  const env = finalOf('ENV').join(' ');
  assert.match(env, /\bIMGEDGE_CACHE_DIR=\/var\/cache\/imgedge\b/);
  assert.match(env, /\bIMGEDGE_ROOT=\/var\/lib\/imgedge\b/);
  // The admin port must be reachable from outside the container for probes.
  assert.match(env, /\bIMGEDGE_ADMIN_LISTEN=0\.0\.0\.0:9090\b/);
  assert.deepEqual(JSON.parse(finalOf('VOLUME')[0] ?? '[]'), ['/var/cache/imgedge', '/var/lib/imgedge']);
});

test('a health check asks /healthz through the image\'s own script', () => {
  const [healthcheck] = finalOf('HEALTHCHECK');
  assert.match(healthcheck ?? '', /CMD \["node", "\/app\/scripts\/container-healthcheck\.mjs"\]/);
  assert.match(fs.readFileSync(path.join(PROJECT_ROOT, 'scripts', 'container-healthcheck.mjs'), 'utf8'), /\/healthz/);
});

test('.dockerignore lets in exactly what the COPY instructions take from the context', () => {
  const lines = dockerignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '*', 'everything else stays out (node_modules, dist, var, .git)');
  const allowed = lines.slice(1).map((l) => l.replace(/^!/, ''));
  const sources = instructions
    .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  for (const source of sources) assert.ok(allowed.includes(source.replace(/\/$/, '')), `${source} is let in`);
  const copied = new Set(sources.map((s) => s.replace(/\/$/, '')));
  for (const entry of allowed) {
    assert.ok(copied.has(entry), `${entry} is copied`);
    assert.ok(fs.existsSync(path.join(PROJECT_ROOT, entry)), `${entry} exists`);
  }
});
