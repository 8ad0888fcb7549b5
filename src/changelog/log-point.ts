// How far a reader has applied the change log, as it travels on a request
// (`imgedge-log-position: SEQ LOG`): from a replica to the key's owner, and
// from an edge to the origin. Readers of one log apply it each at its own
// pace; one that has applied an overwrite's entry must not be answered with
// bytes its answerer held, or was reading, before applying the same entry.
import type { Position } from './position.js';
import type { LogPoint } from './follower.js';

export const LOG_POSITION_HEADER = 'imgedge-log-position';

/** `SEQ LOG`: the log's id is the rest of the value, whatever it holds. */
export function formatLogPoint(position: Position): string {
  return `${position.seq} ${position.log}`;
}

/** The field a request carries for a reader at `position`; none for one that follows no log yet. */
export function logPointField(position: Position | null): Record<string, string> {
  return position ? { [LOG_POSITION_HEADER]: formatLogPoint(position) } : {};
}

/** Whether a reader at `position` has applied the log `point` names up to its sequence. */
export function hasApplied(position: Position | null, point: LogPoint): boolean {
  return position !== null && position.log === point.log && position.seq >= point.seq;
}

/** The point a request carried; null when there is none or it is not one. */
export function parseLogPoint(value: string | string[] | undefined): LogPoint | null {
  if (typeof value !== 'string') return null;
  const space = value.indexOf(' ');
  if (space <= 0 || space === value.length - 1) return null;
  const digits = value.slice(0, space);
  const seq = Number(digits);
  return /^\d+$/.test(digits) && Number.isSafeInteger(seq) ? { seq, log: value.slice(space + 1) } : null;
}
