// The change log's segment files: JSON lines, one entry each, in a file
// named by the first sequence number it holds. Reading them, for the log.
import fsp from 'node:fs/promises';
import type { ChangeEntry } from './log.js';

/** An entry as stored: `tx` ties it to its pending file, for recovery, and is never served. */
export type StoredEntry = ChangeEntry & { readonly tx?: string };

export const SEGMENT_NAME = /^(\d{20})\.jsonl$/;

export function segmentName(first: number): string {
  return `${String(first).padStart(20, '0')}.jsonl`;
}

function isStoredEntry(value: unknown): value is StoredEntry {
  const e = value as StoredEntry;
  return (
    typeof e === 'object' && e !== null && Number.isSafeInteger(e.seq) && e.seq > 0 &&
    (e.op === 'put' || e.op === 'delete' || e.op === 'purge') && typeof e.path === 'string' &&
    Number.isFinite(e.time) && (e.etag === undefined || typeof e.etag === 'string')
  );
}

export function parseLines(text: string): StoredEntry[] {
  const entries: StoredEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const parsed: unknown = JSON.parse(line);
    if (!isStoredEntry(parsed)) throw new Error(`change log entry without its fields: ${line.slice(0, 200)}`);
    entries.push(parsed);
  }
  return entries;
}

/** What followers are told: the entry without the writer's bookkeeping. */
export function publicEntry(entry: StoredEntry): ChangeEntry {
  const { seq, op, path: p, etag, time } = entry;
  return etag === undefined ? { seq, op, path: p, time } : { seq, op, path: p, etag, time };
}

/** The whole lines of a segment (a line cut by a crash is not one). */
export async function readEntries(file: string): Promise<StoredEntry[]> {
  const text = await fsp.readFile(file, 'utf8');
  return parseLines(text.slice(0, text.lastIndexOf('\n') + 1));
}

export async function lastEntryOf(file: string): Promise<StoredEntry | null> {
  const handle = await fsp.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    const line = lines.at(-1);
    if (!line) return null;
    const parsed: unknown = JSON.parse(line);
    return isStoredEntry(parsed) ? parsed : null;
  } finally {
    await handle.close();
  }
}
