// The fleet on one machine. The origin IDC (place 0): a bucket (s3rver), the
// Redis primary of the change stream, and `imgedge origin` replicas over both.
// N edge IDCs, each with two WAN links to the origin IDC (HTTP to the origin
// replicas, and Redis replication to the primary), a Redis replica fed
// through that link, and `replicas` imgedge edges peering with each other,
// following the local replica. Edges reach the origin only through their
// IDC's link; the origin tells IDCs apart by the port their link ends at.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from './link.js';
import { LinkHost, type RemoteLink } from './links.js';
import { makeNetwork, type Network, type Place } from './netns.js';
import { Proc, waitReady } from './proc.js';
import { redisServer, type RedisServer } from './redis.js';
import { freePorts } from '../soak/edges.js';
import type { Random } from '../soak/random.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/imgedge.js');
const ORIGIN = path.join(ROOT, 'dist/sim/origin.js');
const S3 = path.join(ROOT, 'dist/sim/s3.js');
const BUCKET = 'imgsim';
export const UPLOAD_TOKEN = 'sim-upload-token';
/** s3rver checks no signature, but the SDK signs with something. */
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface FleetOptions {
  readonly idcs: number;
  readonly replicas: number;
  readonly originReplicas: number;
  readonly rttMs: readonly [number, number];
  readonly lossPct: number;
  readonly allowNetns: boolean;
  /** Where caches, the bucket and Redis's files go; the caller removes it. */
  readonly dir: string;
  readonly random: Random;
  readonly log: (line: string) => void;
}

export interface Edge {
  readonly name: string;
  readonly proc: Proc;
  readonly url: string;
  readonly adminUrl: string;
  /** Taken out of the load balancer (killed) until it is ready again. */
  up: boolean;
}

/** One 200 of the origin to an IDC's GET, on the origin's clock. */
export interface OriginFetch {
  readonly startedAt: number;
  readonly endedAt: number;
  /** The edge that sent it, by its Via name (new with each start of the process). */
  readonly by: string | null;
}

export interface EdgeIdc {
  readonly index: number;
  readonly name: string;
  readonly place: Place;
  readonly rttMs: number;
  /** HTTP to the origin replicas. */
  readonly link: RemoteLink;
  /** Redis replication from the primary. */
  readonly redisLink: RemoteLink;
  readonly redis: RedisServer;
  readonly edges: readonly Edge[];
  /** The origin's 200s to GETs from this IDC, by path and ETag (an object's version): from the request's arrival to its last byte handed to the link. */
  readonly originFetches: Map<string, OriginFetch[]>;
  /** When each origin GET from this IDC was logged. */
  readonly originFetchTimes: number[];
  /** How long the origin took over each, WAN aside (to its last byte written to the link). */
  readonly originFetchMs: number[];
  /** Set while the IDC is cut off. */
  cut: boolean;
}

export interface EdgeCounters {
  readonly peerFetchesOk: number;
  /** Misses whose owner did not acknowledge in time (or refused): the replica next in line was asked instead. */
  readonly peerFetchesUnreachable: number;
  /** Fetches an edge made itself that the key's stand-in answered from its storage: origin fetches saved. */
  readonly handoffHits: number;
  /** Objects an edge stored from a fetch of its own whose stand-in took a copy (`--peer-copies 2`), and whose did not (failed or skipped). */
  readonly copiesOk: number;
  readonly copiesNotTaken: number;
  readonly changelogGaps: number;
  readonly changelogApplied: number;
}

export interface OriginReplica {
  readonly proc: Proc;
  /** Where uploads go (not through any WAN link). */
  readonly url: string;
}

/** Round trips spread evenly over the IDCs, lowest first. */
export function spreadRtt([low, high]: readonly [number, number], count: number, i: number): number {
  return count <= 1 ? low : low + ((high - low) * i) / (count - 1);
}

export class Fleet {
  private constructor(
    readonly network: Network,
    readonly links: LinkHost,
    readonly s3: Proc,
    /** GETs of objects the bucket has answered (each a read of one object's bytes). */
    readonly bucket: { reads: number },
    readonly primary: RedisServer,
    readonly origins: readonly OriginReplica[],
    readonly idcs: EdgeIdc[],
  ) {}

  /** The origin IDC, then `seed` (the first uploads), then the edge IDCs. */
  static async start(options: FleetOptions, seed: (origins: readonly string[]) => Promise<void>): Promise<Fleet> {
    const perIdc = 1 + 2 * options.replicas;
    const network = await makeNetwork(options.idcs + 1, { allowNetns: options.allowNetns });
    options.log(`network: ${network.kind}: ${network.note}`);
    const links = await LinkHost.start().catch(async (error: unknown) => {
      await network.close();
      throw error;
    });
    options.log(`WAN links: in a process of their own, ${links.priority}`);
    const ports = await listenPorts(network, options.idcs * perIdc + options.originReplicas * (1 + options.idcs) + 2);
    const [originPlace, ...edgePlaces] = network.places as [Place, ...Place[]];
    const idcs: EdgeIdc[] = [];
    const bucket = { reads: 0 };
    const s3 = new Proc('s3', [
      ...originPlace.wrap, process.execPath, S3, '--host', originPlace.host, '--port', String(ports.shift()!), '--dir', path.join(options.dir, 's3'), '--bucket', BUCKET,
    ], (line) => {
      if (line !== '{"bucketRead":true}') return false;
      bucket.reads++;
      return true;
    });
    const primary = redisServer('redis-primary', originPlace, ports.shift()!, path.join(options.dir, 'redis-primary'), null);
    const idcPorts = Array.from({ length: options.originReplicas }, () => ports.splice(0, options.idcs));
    const origins: OriginReplica[] = [];
    const fleet = new Fleet(network, links, s3, bucket, primary, origins, idcs);
    try {
      s3.start();
      await waitForLine(s3, '{"ready":true', 30_000);
      const s3Port = (JSON.parse(s3.tail.find((line) => line.startsWith('{"ready"'))!) as { port: number }).port;
      primary.proc.start();
      await primary.ready(15_000);
      for (let r = 0; r < options.originReplicas; r++) {
        const port = ports.shift()!;
        const proc = new Proc(`origin${r}`, [
          ...originPlace.wrap, process.execPath, ORIGIN, '--idc-ports', idcPorts[r]!.join(','), '--',
          '--listen', `${originPlace.host}:${port}`, '--root', `s3://${BUCKET}/images`, '--s3-endpoint', `http://${originPlace.host}:${s3Port}`,
          '--changelog', primary.url, '--upload-token', UPLOAD_TOKEN, '--max-upload-bytes', '1MiB', '--log-level', 'warn',
        ], (line) => {
          if (!line.startsWith('{"idc"')) return false;
          const fetched = JSON.parse(line) as { idc: number; path: string; status: number; etag: string | null; ms: number; at: number; by: string | null };
          const idc = idcs[fetched.idc];
          if (!idc) return true;
          idc.originFetchTimes.push(Date.now());
          idc.originFetchMs.push(fetched.ms);
          const key = `${fetched.path} ${fetched.etag}`;
          if (fetched.status === 200) idc.originFetches.set(key, [...(idc.originFetches.get(key) ?? []), { startedAt: fetched.at - fetched.ms, endedAt: fetched.at, by: fetched.by }]);
          return true;
        }, CREDENTIALS);
        origins.push({ proc, url: `http://${originPlace.host}:${port}` });
      }
      for (const origin of origins) origin.proc.start();
      await Promise.all(origins.map((origin) => waitForLine(origin.proc, '{"ready":true}', 30_000)));
      options.log(`origin IDC: s3rver, the Redis primary and ${origins.length} origin replicas are ready`);
      await seed(origins.map((origin) => origin.url));

      for (const [i, place] of edgePlaces.entries()) {
        const rttMs = spreadRtt(options.rttMs, options.idcs, i);
        const linkOptions = (targets: readonly Endpoint[]) => ({
          listenHost: place.gateway, targets, delayMs: rttMs / 2, jitterMs: rttMs / 20, lossPct: options.lossPct, seed: options.random.forkSeed(),
        });
        const link = await links.open(linkOptions(idcPorts.map((p) => ({ host: originPlace.host, port: p[i]! }))));
        const redisLink = await links.open(linkOptions([{ host: primary.host, port: primary.port }]));
        const redis = redisServer(`${place.name}-redis`, place, ports.shift()!, path.join(options.dir, `${place.name}-redis`), { host: place.gateway, port: redisLink.port });
        const listen = Array.from({ length: options.replicas }, () => ports.splice(0, 2) as [number, number]);
        const peers = listen.map(([port]) => `http://${place.host}:${port}`).join(',');
        const edges = listen.map(([port, adminPort], r): Edge => {
          const name = `${place.name}-edge${r}`;
          const proc = new Proc(name, [
            ...place.wrap, process.execPath, '--max-semi-space-size=2', '--single-threaded-gc', BIN, 'edge',
            '--origin', `http://${place.gateway}:${link.port}`, '--listen', `${place.host}:${port}`, '--peers', peers, '--peer-copies', '2',
            '--admin-listen', `${place.host}:${adminPort}`, '--cache-dir', path.join(options.dir, name), '--cache-max-bytes', '1GiB',
            '--memory-cache-bytes', '16MiB', '--origin-timeout-ms', '5000', '--changelog', redis.url, '--log-level', 'warn',
          ]);
          return { name, proc, url: `http://${place.host}:${port}`, adminUrl: `http://${place.host}:${adminPort}`, up: false };
        });
        idcs.push({ index: i, name: place.name, place, rttMs, link, redisLink, redis, edges, originFetches: new Map(), originFetchTimes: [], originFetchMs: [], cut: false });
      }
      for (const idc of idcs) idc.redis.proc.start();
      await Promise.all(idcs.map((idc) => idc.redis.ready(30_000)));
      const all = idcs.flatMap((idc) => idc.edges);
      for (const edge of all) edge.proc.start();
      await Promise.all(all.map((edge) => fleet.#ready(edge)));
      options.log(`fleet: ${idcs.length} edge IDCs, each a Redis replica and ${options.replicas} peered edges, are ready`);
      return fleet;
    } catch (error) {
      await fleet.close();
      throw error;
    }
  }

  async #ready(edge: Edge): Promise<void> {
    await waitReady(edge.proc, `${edge.adminUrl}/readyz`, 60_000);
    edge.up = true;
  }

  /** Cuts an edge IDC off from the origin IDC (both its links); says how. */
  async cut(idc: EdgeIdc): Promise<string> {
    idc.cut = true;
    if (this.network.canCut) {
      await this.network.cut(idc.place);
      return 'nft drops every packet of its outbound connections: HTTP to the origin and Redis replication';
    }
    await Promise.all([idc.link.cut('freeze'), idc.redisLink.cut('freeze')]);
    return 'its WAN links freeze (no byte moves) and refuse new connections';
  }

  async heal(idc: EdgeIdc): Promise<void> {
    if (this.network.canCut) await this.network.heal(idc.place);
    else {
      await Promise.all([idc.link.heal(), idc.redisLink.heal()]);
    }
    idc.cut = false;
  }

  /** SIGKILL; out of the load balancer at once. */
  killEdge(edge: Edge): void {
    edge.up = false;
    edge.proc.killNow();
  }

  async restartEdge(edge: Edge): Promise<void> {
    edge.proc.start();
    await this.#ready(edge);
  }

  /** A planned restart: SIGTERM (Redis writes its RDB), then start over it and wait for the link to the primary. */
  async restartRedis(idc: EdgeIdc): Promise<void> {
    await idc.redis.proc.stop();
    idc.redis.proc.start();
    await idc.redis.ready(60_000);
  }

  /** What the IDC's edges count of their peers and their change log (since each last started). */
  async counters(idc: EdgeIdc): Promise<EdgeCounters> {
    const texts = await Promise.all(idc.edges.map((edge) =>
      fetch(`${edge.adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text(), () => '')));
    const sum = (name: string, label?: string) => texts.reduce((total, text) => {
      for (const line of text.split('\n')) {
        const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (match?.[1] === name && (!label || match[2]?.includes(label))) total += Number(match[3]);
      }
      return total;
    }, 0);
    return {
      peerFetchesOk: sum('imgedge_peer_fetches_total', 'result="ok"'),
      peerFetchesUnreachable: sum('imgedge_peer_fetches_total', 'result="unreachable"'),
      handoffHits: sum('imgedge_peer_handoffs_total', 'result="hit"'),
      copiesOk: sum('imgedge_peer_copies_total', 'result="ok"'),
      copiesNotTaken: sum('imgedge_peer_copies_total', 'result="failed"') + sum('imgedge_peer_copies_total', 'result="skipped"'),
      changelogGaps: sum('imgedge_changelog_gaps_total'),
      changelogApplied: sum('imgedge_changelog_entries_applied_total'),
    };
  }

  killOrigin(origin: OriginReplica): void {
    origin.proc.killNow();
  }

  async restartOrigin(origin: OriginReplica): Promise<void> {
    origin.proc.start();
    await waitForLine(origin.proc, '{"ready":true}', 30_000);
  }

  async close(): Promise<void> {
    await Promise.all(this.idcs.flatMap((idc) => idc.edges.map((edge) => edge.proc.stop())));
    await Promise.all(this.idcs.map((idc) => idc.redis.proc.stop()));
    await Promise.all(this.origins.map((origin) => origin.proc.stop()));
    await this.primary.proc.stop();
    await this.s3.stop();
    await this.links.close();
    await this.network.close();
  }

  /** At process exit: kill what runs, remove the namespaces, no waiting. */
  closeNow(): void {
    for (const idc of this.idcs) {
      for (const edge of idc.edges) edge.proc.killNow();
      idc.redis.proc.killNow();
    }
    for (const origin of this.origins) origin.proc.killNow();
    this.primary.proc.killNow();
    this.s3.killNow();
    this.links.killNow();
    this.network.closeNow();
  }
}

/** The first port the fleet's listeners take in namespaces. */
const FIRST_NETNS_PORT = 20_000;

/**
 * Ports for the fleet's listeners. In namespaces each IDC has ports of its
 * own, taken below Linux's ephemeral range (32768 up), so no outgoing
 * connection of a process there can hold one when a process started again
 * binds it; on loopback they are free ports of the host.
 */
function listenPorts(network: Network, count: number): Promise<number[]> {
  if (network.kind === 'loopback') return freePorts(count);
  return Promise.resolve(Array.from({ length: count }, (_, i) => FIRST_NETNS_PORT + i));
}

function waitForLine(proc: Proc, prefix: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (proc.tail.some((line) => line.startsWith(prefix))) {
        clearInterval(check);
        resolve();
      } else if (proc.pid === undefined || Date.now() > deadline) {
        clearInterval(check);
        reject(new Error(`${proc.name} did not start:\n${proc.tail.join('\n')}`));
      }
    }, 50);
  });
}
