// npm run sim [-- --idcs 9 --minutes 5 --warm-up-seconds 30 --rtt-ms 20-80 --loss 0.5 --json FILE]
// Prints the Markdown report, writes the JSON one to FILE when asked. Exit 2
// on a bad or unknown option; Ctrl-C (or SIGTERM) stops the run early and
// still tears everything down; a second one exits at once, namespaces removed.
import fs from 'node:fs';
import { runSim, DEFAULTS, type SimOptions } from './harness.js';
import { renderMarkdown } from './markdown.js';
import { parseInteger } from '../src/units.js';

class UsageError extends Error {}

const HELP = `usage: npm run sim -- [options]   (as root for network namespaces)

  --idcs N             edge IDCs, 3 edges and a Redis replica each, behind the origin IDC (default 9)
  --minutes M          how long the writes and the faults run (default 5; fractions allowed)
  --warm-up-seconds S  reads alone before that, the edges starting empty (default 30)
  --rtt-ms A-B         round trips to the origin IDC, spread over the edge IDCs (default 20-80)
  --loss PCT           chance a chunk stalls for one retransmission timeout (default 0.5)
  --json FILE          also write the report as JSON
  --cut-seconds S      how long the last edge IDC is cut off, from a third of the run (default 30)
  --reads-per-sec N    reads per second in each edge IDC (default 200)
  --writes-per-sec N   uploads and overwrites per second at the origin (default 2)
  --objects N          objects at the origin, 2 KiB to 256 KiB (default 1000)
  --seed N             the catalog, the reads, the links' jitter and loss (default 1)
  --loopback           every IDC on 127.0.0.1, even as root`;

function number(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag}: ${JSON.stringify(value)} is not a number between ${min} and ${max}`);
  return n;
}

function parseArgs(argv: readonly string[]): { options: SimOptions; json: string | null } {
  let options: SimOptions = { ...DEFAULTS, log: (line) => console.error(`sim: ${line}`) };
  let json: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    if (flag === '--help' || flag === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    if (flag === '--loopback') {
      options = { ...options, allowNetns: false };
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    const integer = (min: number, max: number) => {
      try {
        return parseInteger(value, { min, max });
      } catch (error) {
        throw new UsageError(`${flag}: ${JSON.stringify(value)} ${(error as Error).message}`);
      }
    };
    switch (flag) {
      case '--idcs': options = { ...options, idcs: integer(1, 60) }; break;
      case '--minutes': options = { ...options, durationMs: Math.round(number(flag, value, 0.1, 24 * 60) * 60_000) }; break;
      case '--warm-up-seconds': options = { ...options, warmUpMs: Math.round(number(flag, value, 0, 3600) * 1000) }; break;
      case '--rtt-ms': {
        const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value);
        if (!match || Number(match[1]) > Number(match[2]) || Number(match[2]) > 10_000) throw new UsageError(`--rtt-ms: ${JSON.stringify(value)} is not LOW-HIGH in milliseconds (try 20-80)`);
        options = { ...options, rttMs: [Number(match[1]), Number(match[2])] };
        break;
      }
      case '--loss': options = { ...options, lossPct: number(flag, value, 0, 50) }; break;
      case '--cut-seconds': options = { ...options, cutMs: Math.round(number(flag, value, 0, 3600) * 1000) }; break;
      case '--reads-per-sec': options = { ...options, readsPerSec: integer(1, 100_000) }; break;
      case '--writes-per-sec': options = { ...options, writesPerSec: number(flag, value, 0.1, 100) }; break;
      case '--objects': options = { ...options, objects: integer(10, 100_000) }; break;
      case '--seed': options = { ...options, seed: integer(0, 2 ** 31) }; break;
      case '--json': json = value; break;
      default: throw new UsageError(`unknown option ${flag}`);
    }
  }
  return { options, json };
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`sim: ${error.message}`);
    process.exit(2);
  }
  const abort = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (abort.signal.aborted) process.exit(130);
      console.error('sim: stopping (again to quit at once)');
      abort.abort();
    });
  }
  const report = await runSim({ ...parsed.options, signal: abort.signal });
  console.log(renderMarkdown(report));
  if (parsed.json) {
    fs.writeFileSync(parsed.json, `${JSON.stringify(report, null, 2)}\n`);
    console.error(`sim: wrote ${parsed.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(`sim: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
