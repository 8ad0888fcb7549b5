// Whether a key's owner may answer a replica from what it holds: the asker
// sends how far it has read the change log (changelog/log-point.ts), and the
// owner first reads its own as far (see the edge's public routes).
import type { LogPoint } from '../changelog/follower.js';
import { parseLogPoint } from '../changelog/log-point.js';

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
