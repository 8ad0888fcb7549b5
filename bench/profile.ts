// A V8 CPU profile (node --cpu-prof) reduced to where the time went: self
// time per function, as a share of all samples, largest first.
import fs from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function isProfile(value: unknown): value is CpuProfile {
  const p = value as CpuProfile;
  return typeof p === 'object' && p !== null && Array.isArray(p.nodes) && Array.isArray(p.samples) && Array.isArray(p.timeDeltas);
}

export interface SelfTime {
  readonly where: string;
  readonly share: number;
}

/** The `top` functions by self time in the profile file. */
export function selfTimes(file: string, top: number): SelfTime[] {
  const profile: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!isProfile(profile)) throw new Error(`${file} is not a V8 CPU profile`);
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byWhere = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const frame = frames.get(id);
    const file = frame?.url.split('/').slice(-2).join('/') ?? '';
    const where = `${frame?.functionName || '(anonymous)'}${file ? ` ${file}:${(frame?.lineNumber ?? 0) + 1}` : ''}`;
    byWhere.set(where, (byWhere.get(where) ?? 0) + delta);
    total += delta;
  });
  return [...byWhere]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, time]) => ({ where, share: total > 0 ? time / total : 0 }));
}
