// The fleet on one machine: the origin IDC (place 0) and N edge IDCs, each
// edge IDC with its own WAN link to the origin IDC and `replicas` imgedge edge
// processes. Edges reach the origin only through their IDC's link; the origin
// tells IDCs apart by the port their link ends at.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WanLink } from './link.js';
import { makeNetwork, type Network, type Place } from './netns.js';
import { Proc, waitReady } from './proc.js';
import { freePorts } from '../soak/edges.js';
import type { Random } from '../soak/random.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/imgedge.js');
const ORIGIN = path.join(ROOT, 'dist/sim/origin.js');

export interface FleetOptions {
  readonly idcs: number;
  readonly replicas: number;
  readonly rttMs: readonly [number, number];
  readonly lossPct: number;
  readonly allowNetns: boolean;
  /** Where cache dirs go; the caller removes it. */
  readonly dir: string;
  /** What the origin serves. */
  readonly originDir: string;
  readonly random: Random;
  readonly log: (line: string) => void;
}

export interface EdgeIdc {
  readonly name: string;
  readonly place: Place;
  readonly rttMs: number;
  readonly link: WanLink;
  readonly edges: readonly { readonly proc: Proc; readonly url: string; readonly adminUrl: string }[];
  /** GETs answered 200 by the origin for this IDC, by path. */
  readonly originFetches: Map<string, number>;
  /** When each origin GET from this IDC was logged. */
  readonly originFetchTimes: number[];
}

/** Round trips spread evenly over the IDCs, lowest first. */
export function spreadRtt([low, high]: readonly [number, number], count: number, i: number): number {
  return count <= 1 ? low : low + ((high - low) * i) / (count - 1);
}

export class Fleet {
  private constructor(
    readonly network: Network,
    readonly origin: Proc,
    readonly idcs: readonly EdgeIdc[],
  ) {}

  static async start(options: FleetOptions): Promise<Fleet> {
    const ports = await freePorts(options.idcs * (1 + 2 * options.replicas));
    const network = await makeNetwork(options.idcs + 1, { allowNetns: options.allowNetns });
    options.log(`network: ${network.kind}: ${network.note}`);
    const [originPlace, ...edgePlaces] = network.places as [Place, ...Place[]];
    const originPorts = ports.splice(0, options.idcs);
    const idcs: EdgeIdc[] = [];
    const origin = new Proc('origin', [
      ...originPlace.wrap, process.execPath, ORIGIN, '--dir', options.originDir, '--host', originPlace.host, '--ports', originPorts.join(','),
    ], (line) => {
      if (!line.startsWith('{"idc"')) return;
      const fetched = JSON.parse(line) as { idc: number; path: string; status: number };
      const idc = idcs[fetched.idc];
      if (!idc) return;
      idc.originFetchTimes.push(Date.now());
      if (fetched.status === 200) idc.originFetches.set(fetched.path, (idc.originFetches.get(fetched.path) ?? 0) + 1);
    });
    const fleet = new Fleet(network, origin, idcs);
    try {
      origin.start();
      await waitForLine(origin, '{"ready":true}', 30_000);
      for (const [i, place] of edgePlaces.entries()) {
        const rttMs = spreadRtt(options.rttMs, options.idcs, i);
        const random = options.random.fork();
        const link = await WanLink.open({
          listenHost: place.gateway, targetHost: originPlace.host, targetPort: originPorts[i]!,
          delayMs: rttMs / 2, jitterMs: rttMs / 20, lossPct: options.lossPct, random: () => random.next(),
        });
        const edges = Array.from({ length: options.replicas }, (_, r) => {
          const [port, adminPort] = ports.splice(0, 2) as [number, number];
          const cacheDir = path.join(options.dir, `${place.name}-edge${r}`);
          const proc = new Proc(`${place.name}-edge${r}`, [
            ...place.wrap, process.execPath, '--max-semi-space-size=2', '--single-threaded-gc', BIN, 'edge',
            '--origin', `http://${place.gateway}:${link.port}`, '--listen', `${place.host}:${port}`,
            '--admin-listen', `${place.host}:${adminPort}`, '--cache-dir', cacheDir, '--cache-max-bytes', '1GiB',
            '--memory-cache-bytes', '16MiB', '--origin-timeout-ms', '5000', '--changelog', 'off', '--log-level', 'warn',
          ]);
          return { proc, url: `http://${place.host}:${port}`, adminUrl: `http://${place.host}:${adminPort}` };
        });
        idcs.push({ name: place.name, place, rttMs, link, edges, originFetches: new Map(), originFetchTimes: [] });
      }
      const all = idcs.flatMap((idc) => idc.edges);
      for (const edge of all) edge.proc.start();
      await Promise.all(all.map((edge) => waitReady(edge.proc, `${edge.adminUrl}/readyz`, 60_000)));
      options.log(`fleet: origin IDC and ${idcs.length} edge IDCs of ${options.replicas} edges each are ready`);
      return fleet;
    } catch (error) {
      await fleet.close();
      throw error;
    }
  }

  /** Cuts an edge IDC off from the origin IDC; says how. */
  async cut(idc: EdgeIdc): Promise<string> {
    if (this.network.canCut) {
      await this.network.cut(idc.place);
      return 'nft drops every packet of its outbound connections';
    }
    idc.link.cut('freeze');
    return 'its WAN link freezes (no byte moves) and refuses new connections';
  }

  async heal(idc: EdgeIdc): Promise<void> {
    if (this.network.canCut) await this.network.heal(idc.place);
    else idc.link.heal();
  }

  async close(): Promise<void> {
    await Promise.all(this.idcs.flatMap((idc) => idc.edges.map((edge) => edge.proc.stop())));
    await this.origin.stop();
    await Promise.all(this.idcs.map((idc) => idc.link.close()));
    await this.network.close();
  }

  /** At process exit: kill what runs, remove the namespaces, no waiting. */
  closeNow(): void {
    for (const idc of this.idcs) for (const edge of idc.edges) edge.proc.killNow();
    this.origin.killNow();
    this.network.closeNow();
  }
}

function waitForLine(proc: Proc, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (proc.tail.includes(line)) {
        clearInterval(check);
        resolve();
      } else if (proc.pid === undefined || Date.now() > deadline) {
        clearInterval(check);
        reject(new Error(`${proc.name} did not start:\n${proc.tail.join('\n')}`));
      }
    }, 50);
  });
}
