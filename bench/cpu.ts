// CPU used by processes outside the benchmark while it measures. The machine
// may be shared, and a figure taken while something else ran on the pinned
// cores says little; the report prints this beside it instead of guessing.
import fs from 'node:fs';
import { ownGroups } from './proc.js';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture that matters here

interface Sample {
  /** utime + stime + cutime + cstime: a reaped child's time lands in its parent's. */
  readonly ticks: number;
  readonly started: number;
}

function ancestorsOfSelf(): Set<number> {
  const pids = new Set<number>([process.pid]);
  let pid = process.ppid;
  while (pid > 1 && !pids.has(pid)) {
    pids.add(pid);
    pid = Number(readStat(pid)?.[1] ?? 0);
  }
  return pids;
}

/** The fields of /proc/PID/stat after the command name. */
function readStat(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Processes that are neither this run's (harness, its groups, its parents) nor kernel threads. */
function snapshot(): Map<number, Sample> {
  const ours = ancestorsOfSelf();
  const groups = ownGroups();
  const samples = new Map<number, Sample>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const f = readStat(pid);
    if (!f || ours.has(pid)) continue;
    const ppid = Number(f[1]);
    // Kernel threads (children of kthreadd) do this run's own disk and network work.
    if (pid === 2 || ppid === 2 || groups.has(Number(f[2]))) continue;
    samples.set(pid, { ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]), started: Number(f[19]) });
  }
  return samples;
}

export interface ForeignCpu {
  /** CPU seconds used by other processes since the meter started. */
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  /** cpuSeconds over wallSeconds: 1.0 is one core's worth. */
  readonly cores: number;
}

/** Starts a meter; calling the result reads it. */
export function meterForeignCpu(): () => ForeignCpu {
  const before = snapshot();
  const started = Date.now();
  return () => {
    const after = snapshot();
    let ticks = 0;
    for (const [pid, now] of after) {
      const then = before.get(pid);
      ticks += then && then.started === now.started ? now.ticks - then.ticks : now.ticks;
    }
    // A process gone since is usually reaped by a parent counted above, whose
    // cutime then grew by all its life's CPU: take back what it had before.
    for (const [pid, then] of before) {
      if (after.get(pid)?.started !== then.started) ticks -= then.ticks;
    }
    const wallSeconds = (Date.now() - started) / 1000;
    const cpuSeconds = Math.max(0, ticks) / TICKS_PER_SECOND;
    return { cpuSeconds, wallSeconds, cores: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 };
  };
}

/** "12% of a core": how the report shows it. */
export function foreignText(foreign: ForeignCpu): string {
  return `${Math.round(foreign.cores * 100)}%`;
}

/** Above this, a row's figures are marked as likely disturbed. */
export const DISTURBED_CORES = 0.1;
