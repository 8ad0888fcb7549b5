// How far the asking replica has read the change log, sent with its request
// to a key's owner. Replicas read the log each at its own pace: one that has
// applied an overwrite's entry must not be answered, and keep in memory, the
// bytes the owner held before it applied the same entry. The owner first
// reads the log as far as the asker has (see the edge's public routes).
import type { Position } from '../changelog/position.js';
import type { LogPoint } from '../changelog/follower.js';

export const LOG_POSITION_HEADER = 'imgedge-log-position';

/** `SEQ LOG`: the log's id is the rest of the value, whatever it holds. */
export function formatLogPoint(position: Position): string {
  return `${position.seq} ${position.log}`;
}

/** The point a peer sent; null when there is none or it is not one. */
export function parseLogPoint(value: string | string[] | undefined): LogPoint | null {
  if (typeof value !== 'string') return null;
  const space = value.indexOf(' ');
  if (space <= 0 || space === value.length - 1) return null;
  const digits = value.slice(0, space);
  const seq = Number(digits);
  return /^\d+$/.test(digits) && Number.isSafeInteger(seq) ? { seq, log: value.slice(space + 1) } : null;
}

/** What a replica's change log follower tells of its progress. */
export interface LogProgress {
  hasReached(point: LogPoint): boolean;
  reached(point: LogPoint, ms: number): Promise<boolean>;
}

/** Whether this replica may answer a peer that sent a LOG_POSITION_HEADER value: at once, or after reading its log further. */
export interface PeerLogGate {
  /** True when this replica has read as far as the point (or either follows no log); no waiting. */
  vouches(value: string | undefined): boolean;
  /** Waits up to ms for this replica to read as far; false when it has not by then. */
  waitFor(value: string | undefined, ms: number): Promise<boolean>;
}

export function peerLogGate(progress: LogProgress | null): PeerLogGate {
  return {
    vouches: (value) => {
      const point = progress && parseLogPoint(value);
      return !point || progress.hasReached(point);
    },
    waitFor: async (value, ms) => {
      const point = progress && parseLogPoint(value);
      return !point || progress.reached(point, ms);
    },
  };
}
