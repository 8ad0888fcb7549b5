// Real redis-server processes for tests, started on free ports of 127.0.0.1
// (never the system's service): a primary, and replicas of it. Where Debian's
// redis-server is not installed the tests that need it skip with the reason.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { Redis } from 'ioredis';
import { tempDir, until } from './edge.js';

const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
export const REDIS_SERVER: string | null = found || (fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : null);
/** For `test(name, { skip: NO_REDIS }, ...)`: false when redis-server is there, else the reason. */
export const NO_REDIS: string | false = REDIS_SERVER ? false : 'redis-server is not installed (apt-get install -y redis-server)';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** A client for the test's own commands (XADD, XTRIM...). */
  readonly client: Redis;
  /** SIGKILL: nothing is saved beyond what the append-only file holds. */
  kill(): Promise<void>;
  /** Starts again on the same port over the same data. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A redis-server with its append-only file fsynced on every write, so that a
 * SIGKILL loses nothing acknowledged; `replicaOf` makes it a replica.
 */
export async function startRedis(options: { replicaOf?: TestRedis; dir?: string } = {}): Promise<TestRedis> {
  if (!REDIS_SERVER) throw new Error(String(NO_REDIS));
  const dir = options.dir ?? tempDir('redis');
  const port = await freePort();
  let child: ChildProcess | null = null;
  let client: Redis | null = null;
  const launch = async () => {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'always', '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning',
      ...(options.replicaOf ? ['--replicaof', '127.0.0.1', String(options.replicaOf.port)] : []),
    ];
    const proc = spawn(REDIS_SERVER!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await until(async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          if (!options.replicaOf) return (await probe.ping()) === 'PONG';
          return /master_link_status:up/.test(await probe.info('replication'));
        } catch {
          probe.disconnect();
          return false;
        }
      }, `redis-server on port ${port}`, 15_000);
    } catch (error) {
      proc.kill('SIGKILL');
      probe.disconnect();
      throw error;
    }
    client = probe;
  };
  await launch();
  const stop = async (signal: NodeJS.Signals) => {
    client?.disconnect();
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get client() {
      return client!;
    },
    kill: () => stop('SIGKILL'),
    restart: launch,
    close: async () => {
      await stop('SIGKILL');
      if (!options.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
