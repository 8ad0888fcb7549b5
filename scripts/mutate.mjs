#!/usr/bin/env node
// npm run mutate [-- http|cache ...] [--parallel]: runs StrykerJS over each
// part (stryker.config.mjs), one after the other unless --parallel, then
// merges the parts' reports into reports/mutation/mutation.json (the
// mutation-testing report schema) and prints the score by file.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const ALL = ['http', 'cache'];
const args = process.argv.slice(2);
const parallel = args.includes('--parallel');
const unknown = args.filter((a) => a !== '--parallel' && !ALL.includes(a));
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown[0]}: give parts (${ALL.join(', ')}) and/or --parallel`);
  process.exit(2);
}
const parts = args.filter((a) => ALL.includes(a));

function run(part) {
  return new Promise((resolve) => {
    const child = spawn('npx', ['stryker', 'run', 'stryker.config.mjs'], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, MUTATE_PART: part },
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

const started = Date.now();
const chosen = parts.length > 0 ? parts : ALL;
const codes = parallel ? await Promise.all(chosen.map(run)) : [];
if (!parallel) for (const part of chosen) codes.push(await run(part));

// Every part's latest report goes in, run now or before.
const merged = { schemaVersion: '1', thresholds: { high: 80, low: 60 }, files: {}, testFiles: {} };
for (const part of ALL) {
  const file = path.join(root, 'reports', 'mutation', `${part}.json`);
  if (!fs.existsSync(file)) continue;
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  merged.schemaVersion = report.schemaVersion;
  merged.thresholds = report.thresholds;
  Object.assign(merged.files, report.files);
  Object.assign(merged.testFiles, report.testFiles ?? {});
}
fs.writeFileSync(path.join(root, 'reports', 'mutation', 'mutation.json'), JSON.stringify(merged));

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);
let detected = 0;
let undetected = 0;
for (const [name, file] of Object.entries(merged.files).sort()) {
  const d = file.mutants.filter((m) => DETECTED.has(m.status)).length;
  const u = file.mutants.filter((m) => UNDETECTED.has(m.status)).length;
  detected += d;
  undetected += u;
  console.log(`${name.padEnd(32)} ${((100 * d) / Math.max(1, d + u)).toFixed(1).padStart(5)}%  ${d} detected, ${u} undetected`);
}
console.log(`${'all'.padEnd(32)} ${((100 * detected) / Math.max(1, detected + undetected)).toFixed(1).padStart(5)}%  in ${((Date.now() - started) / 60000).toFixed(1)} min`);
process.exit(codes.some((c) => c !== 0) ? 1 : 0);
