// One ioredis connection as the change log uses it: no reconnects and no queue
// of its own (the follower and the appender decide when to try again, with
// their own back-off), and every command bounded in time, so that a Redis
// that stops answering is a failed command, never a hang.
import { Redis } from 'ioredis';
import type { RedisTarget } from './redis-url.js';

export async function connectRedis(target: RedisTarget, options: { commandTimeoutMs: number; connectTimeoutMs?: number }): Promise<Redis> {
  const client = new Redis({
    host: target.host,
    port: target.port,
    db: target.db,
    username: target.username,
    password: target.password,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    commandTimeout: options.commandTimeoutMs,
    enableReadyCheck: true,
  });
  // Failures surface as rejected commands; the event alone must not end the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw error;
  }
  return client;
}

/** Compares two stream entry IDs (`MS-SEQ`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}
