// Who owns a key among the replicas of an IDC: rendezvous (highest random
// weight) hashing. Every member scores every key; the highest score owns it.
// A member that joins takes only the keys it now wins, and one that leaves
// gives away only its own, each to the member that scored next: no other key
// moves, with no ring or virtual nodes to tune. Pure.
import { createHash } from 'node:crypto';

function score(member: string, key: string): bigint {
  return createHash('sha256').update(member).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The member that owns `key`, or undefined when there is none. */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const member of members) {
    const s = score(member, key);
    if (s > bestScore || (s === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = s;
    }
  }
  return best;
}
