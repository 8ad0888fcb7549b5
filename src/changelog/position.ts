// Where an edge is in the change log it follows, kept in its cache dir so a
// restart resumes there. Written atomically (temp + fsync + rename) after the
// entries it counts were applied: a crash replays a few entries, never skips one.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from './durable.js';

export interface Position {
  /** The id of the log followed. */
  readonly log: string;
  /** The last sequence applied (in a Redis stream: how many entries the stream had added up to it). */
  readonly seq: number;
  /** In a Redis stream, the ID of the last entry applied ('0-0' before the first). */
  readonly id?: string;
  /** When the edge last lost track (ms, its clock): everything stored before is revalidated before use. 0 for never. */
  readonly staleBefore: number;
}

export const POSITION_FILE = 'changelog-position.json';

function isPosition(value: unknown): value is Position {
  const p = value as Position;
  return typeof p === 'object' && p !== null && typeof p.log === 'string' && p.log !== '' &&
    Number.isSafeInteger(p.seq) && p.seq >= 0 && Number.isFinite(p.staleBefore) &&
    (p.id === undefined || (typeof p.id === 'string' && /^\d+-\d+$/.test(p.id)));
}

/** The saved position, or null when there is none (or it cannot be read, which is the same: unknown). */
export async function loadPosition(cacheDir: string): Promise<Position | null> {
  const text = await fsp.readFile(path.join(cacheDir, POSITION_FILE), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return isPosition(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function savePosition(cacheDir: string, position: Position): Promise<void> {
  return writeFileDurably(path.join(cacheDir, POSITION_FILE), `${JSON.stringify(position)}\n`);
}
