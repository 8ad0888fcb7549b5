// The change stream's Redis servers: Debian's redis-server, the primary in the
// origin IDC and a replica in each edge IDC that replicates through that IDC's
// WAN link, as an operator would run them between data centres. Replicas are
// tuned for a WAN that can be cut: the primary pings every second and a link
// silent for 5 s is given up and dialled again (Redis's defaults, 10 s and
// 60 s, would leave a healed IDC waiting on TCP's backed-off retransmissions).
// Each keeps an RDB written at shutdown, so a restarted replica resumes
// with a partial resync instead of starting empty.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import type { Place } from './netns.js';
import { Proc } from './proc.js';

const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
export const REDIS_SERVER: string | null = found || (fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : null);

export interface RedisServer {
  readonly proc: Proc;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Resolves once it answers (a primary) or its link to the primary is up (a replica). */
  ready(timeoutMs: number): Promise<void>;
}

export function redisServer(
  name: string,
  place: Place,
  port: number,
  dir: string,
  replicaOf: { readonly host: string; readonly port: number } | null,
): RedisServer {
  if (!REDIS_SERVER) throw new Error('redis-server is not installed (apt-get install -y redis-server)');
  fs.mkdirSync(dir, { recursive: true });
  const proc = new Proc(name, [
    ...place.wrap, REDIS_SERVER, '--port', String(port), '--bind', place.host, '--dir', dir, '--save', '3600 1', '--appendonly', 'no',
    '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning', '--repl-ping-replica-period', '1', '--repl-timeout', '5',
    ...(replicaOf ? ['--replicaof', replicaOf.host, String(replicaOf.port)] : []),
  ]);
  return {
    proc,
    host: place.host,
    port,
    url: `redis://${place.host}:${port}`,
    ready: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (proc.pid === undefined) throw new Error(`${name} exited:\n${proc.tail.join('\n')}`);
        const client = new Redis({ host: place.host, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000 });
        client.on('error', () => {});
        const up = await client.connect().then(
          async () => (replicaOf ? /master_link_status:up/.test(await client.info('replication')) : (await client.ping()) === 'PONG'),
          () => false,
        ).catch(() => false);
        client.disconnect();
        if (up) return;
        if (Date.now() > deadline) throw new Error(`${name} not ready within ${timeoutMs} ms:\n${proc.tail.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}
