// The bytes of every version of every soak object, never stored: AES-256-CTR
// keystream under a key derived from (seed, path, version). CTR can start at
// any block, so a checker regenerates any slice (a 206, the prefix an aborted
// body got) as cheaply as the origin streams the whole, and two versions, or
// two objects, share no run of bytes a mix-up could hide in.
import { createCipheriv, createHash } from 'node:crypto';

const BLOCK = 16;
const CHUNK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK + BLOCK);

export class Content {
  readonly #sha = new Map<string, string>();

  constructor(private readonly seed: number) {}

  #cipher(path: string, version: number, start: number) {
    const key = createHash('sha256').update(`${this.seed}\0${path}\0${version}`).digest();
    const iv = Buffer.alloc(BLOCK);
    iv.writeBigUInt64BE(BigInt(Math.floor(start / BLOCK)), 8);
    return createCipheriv('aes-256-ctr', key, iv);
  }

  /** Chunks of at most 64 KiB covering [start, end) of a version. */
  *chunks(path: string, version: number, start: number, end: number): Generator<Buffer> {
    if (end <= start) return;
    const cipher = this.#cipher(path, version, start);
    let skip = start % BLOCK;
    for (let at = start; at < end; ) {
      const length = Math.min(CHUNK, end - at);
      const out = cipher.update(ZEROS.subarray(0, length + skip));
      yield skip ? out.subarray(skip) : out;
      skip = 0;
      at += length;
    }
  }

  slice(path: string, version: number, start: number, end: number): Buffer {
    return Buffer.concat([...this.chunks(path, version, start, end)]);
  }

  /** SHA-256 (hex) of [start, end) of a version. */
  shaOf(path: string, version: number, start: number, end: number): string {
    const hash = createHash('sha256');
    for (const chunk of this.chunks(path, version, start, end)) hash.update(chunk);
    return hash.digest('hex');
  }

  /** SHA-256 of a whole version, computed once. */
  sha(path: string, version: number, size: number): string {
    const id = `${path}#${version}`;
    let sha = this.#sha.get(id);
    if (sha === undefined) {
      sha = this.shaOf(path, version, 0, size);
      this.#sha.set(id, sha);
    }
    return sha;
  }
}
