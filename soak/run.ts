// npm run soak [-- --duration 10m --seed 7 --clients 32 --objects 3000 --max-object-bytes 32MiB]
// Prints the summary, writes soak/results/<date>.md and latest.md, and exits
// 1 when any check failed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize, parseInteger } from '../src/units.js';
import { runSoak, DEFAULTS, type SoakOptions } from './harness.js';
import { renderMarkdown } from './markdown.js';

const RESULTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../soak/results');

/** "90", "90s", "10m", "1h" → milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new Error(`--duration: ${JSON.stringify(value)} is not a duration (try 60s or 10m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * unit);
}

function parseArgs(argv: readonly string[]): SoakOptions {
  let options: SoakOptions = { ...DEFAULTS, log: (line) => console.error(`soak: ${line}`) };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--duration': options = { ...options, durationMs: parseDuration(value) }; break;
      case '--seed': options = { ...options, seed: parseInteger(value) }; break;
      case '--clients': options = { ...options, clients: parseInteger(value, { min: 1, max: 512 }) }; break;
      case '--objects': options = { ...options, objects: parseInteger(value, { min: 10, max: 100_000 }) }; break;
      case '--max-object-bytes': options = { ...options, maxObjectBytes: parseSize(value, { min: 2048 }) }; break;
      case '--small-cache-bytes': options = { ...options, smallCacheBytes: parseSize(value, { min: 1024 * 1024 }) }; break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const report = await runSoak({ ...parseArgs(process.argv.slice(2)), signal: abort.signal });
  const markdown = renderMarkdown(report);
  console.log(markdown);
  fs.mkdirSync(RESULTS, { recursive: true });
  const stamp = report.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  fs.writeFileSync(path.join(RESULTS, `${stamp}.md`), markdown);
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), markdown);
  console.error(`soak: wrote soak/results/${stamp}.md and soak/results/latest.md`);
  process.exitCode = report.failures.length ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(`soak: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 2;
});
