// The objects the simulation writes and reads, with every version each has
// had: a body read anywhere is identified by its hash as one of them, or it is
// a wrong body. A version is known before its upload is sent (a reader may
// get it before the uploader hears back), and gets its acknowledgement time
// when the origin answers: the start of the invalidation clock.
import { createHash, randomBytes } from 'node:crypto';
import type { Random } from '../soak/random.js';

export interface Version {
  readonly sha: string;
  readonly size: number;
  /** When the origin acknowledged it; null while in flight, or never (refused). */
  ackedAt: number | null;
  /** The ETag the origin acknowledged it with. */
  etag: string | null;
}

export interface CatalogEntry {
  readonly path: string;
  readonly versions: Version[];
}

/** JPEG's first bytes (the origin stores images only), then noise: no edge transforms a plain GET. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);

export class Catalog {
  readonly entries: CatalogEntry[] = [];
  /** The objects there from the start, read by rank (Zipf); later uploads come after them. */
  initial = 0;

  constructor(private readonly random: Random) {}

  /** Bytes of 2 KiB to 256 KiB, log-uniform: as many small as large per octave. */
  body(): Buffer {
    return Buffer.concat([JPEG, randomBytes(this.random.logUniform(2048, 256 * 1024) - JPEG.length)]);
  }

  /** Registers a new version of `object` (a new object when it is entries.length) before it is sent. */
  add(object: number, body: Buffer): Version {
    const version: Version = { sha: createHash('sha256').update(body).digest('hex'), size: body.length, ackedAt: null, etag: null };
    if (object === this.entries.length) this.entries.push({ path: `/o/${object}.jpg`, versions: [] });
    this.entries[object]!.versions.push(version);
    return version;
  }

  /** Which version of `object` these bytes are, or -1: a wrong body. */
  versionOf(object: number, sha: string): number {
    const versions = this.entries[object]!.versions;
    for (let v = versions.length - 1; v >= 0; v--) if (versions[v]!.sha === sha) return v;
    return -1;
  }
}
