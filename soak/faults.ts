// The fault schedule: rounds of every kind in a shuffled order, spread evenly
// over the run (a lead-in to warm up, a tail to let the last one settle), so a
// 10-minute run injects each kind 15 times and a 25-second one once. The
// "cache full" kind is not scheduled: one edge runs with a small
// --cache-max-bytes so eviction never stops, and its evictions are counted.
import type { SoakOrigin } from './origin.js';
import type { Edge } from './edges.js';
import type { Random } from './random.js';

export const FAULT_KINDS = ['origin restart', 'origin slow', 'origin 500s', 'origin cuts bodies', 'edge kill -9'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultLog {
  readonly counts: Record<FaultKind, number>;
  readonly events: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function emptyFaultLog(): FaultLog {
  return { counts: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>, events: [] };
}

export async function runFaults(
  origin: SoakOrigin,
  victim: Edge,
  rng: Random,
  durationMs: number,
  log: FaultLog,
  stopped: () => boolean,
): Promise<void> {
  const startedAt = Date.now();
  const rounds = Math.max(1, Math.floor(durationMs / 40_000));
  const plan: FaultKind[] = [];
  for (let r = 0; r < rounds; r++) plan.push(...rng.shuffle([...FAULT_KINDS]));
  const lead = Math.min(3000, durationMs * 0.1);
  const tail = Math.min(8000, durationMs * 0.15);
  const slot = (durationMs - lead - tail) / plan.length;
  for (const [i, kind] of plan.entries()) {
    const at = startedAt + lead + i * slot + rng.next() * slot * 0.3;
    while (Date.now() < at && !stopped()) await sleep(Math.min(200, at - Date.now()));
    if (stopped()) return;
    const lasting = Math.round(Math.max(1000, Math.min(5000, slot * 0.6)));
    const t = ((Date.now() - startedAt) / 1000).toFixed(1);
    switch (kind) {
      case 'origin restart': {
        const down = rng.int(300, 1500);
        log.events.push(`${t}s origin restart (down ${down} ms)`);
        await origin.restart(down);
        break;
      }
      case 'origin slow':
        origin.fault('slow', Date.now(), lasting);
        log.events.push(`${t}s origin slow for ${lasting} ms`);
        break;
      case 'origin 500s':
        origin.fault('fail', Date.now(), lasting);
        log.events.push(`${t}s origin answers 500 (60%) for ${lasting} ms`);
        break;
      case 'origin cuts bodies':
        origin.fault('cut', Date.now(), lasting);
        log.events.push(`${t}s origin cuts bodies short (50%) for ${lasting} ms`);
        break;
      case 'edge kill -9': {
        const pid = victim.pid;
        await victim.kill9();
        await sleep(rng.int(0, 500));
        const restarting = Date.now();
        await victim.start();
        log.events.push(`${t}s kill -9 edge ${victim.spec.name} (pid ${pid}); ready again in ${Date.now() - restarting} ms`);
        break;
      }
    }
    log.counts[kind]++;
  }
}
