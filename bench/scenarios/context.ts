// What every scenario is handed: the running origin, the targets that can run,
// the sizes to use (full or --quick), and a progress log.
import http from 'node:http';
import { getText, timedGet } from '../client.js';
import { objectPath } from '../origin.js';
import type { TargetName } from '../targets.js';

export interface Origin {
  readonly port: number;
  readonly base: string;
  /** How many requests the origin has had for one path. */
  count(path: string): Promise<number>;
}

export interface Context {
  readonly origin: Origin;
  /** Selected targets that can run, in report order. */
  readonly targets: readonly TargetName[];
  readonly quick: boolean;
  /** Also profile imgedge under the 8 KiB hits (node --cpu-prof). */
  readonly profile: boolean;
  /** Unique per run, so object names never meet a copy cached by an earlier run. */
  readonly runId: string;
  log(line: string): void;
}

export function originAt(port: number): Origin {
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    base,
    async count(path: string) {
      const { body } = await getText(`${base}/__count?path=${encodeURIComponent(path)}`);
      return (JSON.parse(body) as { count: number }).count;
    },
  };
}

export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Unrecorded misses through a fresh cache before a measured one: a process
 * that has served nothing yet pays for opening its origin pool and, for
 * node, for compiling its code, and a long-running edge pays for neither.
 */
export async function warmUp(base: string, prefix: string, count: number, size = 64 * 1024): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    for (let i = 0; i < count; i += 4) {
      await Promise.all([0, 1, 2, 3].map((j) => timedGet(base + objectPath({ name: `${prefix}-warm-${i + j}`, size }), { agent })));
    }
  } finally {
    agent.destroy();
  }
}

export const WARM_MISSES = 40;
