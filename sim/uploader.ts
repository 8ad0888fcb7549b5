// The uploaders of the origin IDC: PUTs to the origin replicas in turn (a
// Service), the next replica when one refuses, resets or answers 503 (stored
// but not yet in the stream: the origin asks for the retry). An answered 2xx
// is the acknowledgement the invalidation clock starts from.
import { Agent, request } from 'undici';

export interface Ack {
  readonly ackedAt: number;
  readonly etag: string | null;
}

export class Uploader {
  failures = 0;
  retries = 0;
  readonly #agent = new Agent({ connections: 8, keepAliveTimeout: 4000 });
  #turn = 0;

  constructor(private readonly origins: readonly string[], private readonly token: string) {}

  /** The acknowledgement, or null when no replica took it within `attempts` tries. */
  async put(path: string, body: Buffer, attempts = 6): Promise<Ack | null> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) {
        this.retries++;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
      const base = this.origins[this.#turn++ % this.origins.length]!;
      try {
        const response = await request(`${base}${path}`, {
          method: 'PUT', body, dispatcher: this.#agent, headersTimeout: 10_000, bodyTimeout: 10_000,
          headers: { authorization: `Bearer ${this.token}`, 'content-length': String(body.length) },
        });
        await response.body.dump();
        if (response.statusCode === 201 || response.statusCode === 204) {
          return { ackedAt: Date.now(), etag: (response.headers.etag as string | undefined) ?? null };
        }
        if (response.statusCode !== 503) throw new Error(`PUT ${path}: ${response.statusCode}`);
      } catch (error) {
        if ((error as Error).message.startsWith('PUT ')) throw error;
      }
    }
    this.failures++;
    return null;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
