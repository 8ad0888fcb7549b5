// Where the simulation's IDCs live. As root: one Linux network namespace per
// IDC, joined to the host by a veth pair addressed from 198.18.0.0/15 (RFC
// 2544, kept for benchmarks), with no default route, so a process in an IDC
// reaches nothing but its own namespace and the host side of its pair, where
// the WAN links listen. Everything made is named PREFIX<pid>-… so that a later
// run can sweep what a killed run left behind without touching a live one.
// Without the right to make namespaces, every IDC is plain 127.0.0.1 and the
// reason is kept for the report.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Place {
  readonly name: string;
  /** The address processes in this IDC listen on, reachable from the host. */
  readonly host: string;
  /** The host's address as seen from inside: where this IDC's WAN links listen. */
  readonly gateway: string;
  /** Command prefix that runs a program inside the IDC. */
  readonly wrap: readonly string[];
}

export interface Network {
  readonly kind: 'netns' | 'loopback';
  /** Why the network is loopback, or how cuts are made. */
  readonly note: string;
  readonly places: readonly Place[];
  /** A packet-level cut (nft) is available; otherwise cut the WAN links themselves. */
  readonly canCut: boolean;
  /** Drops every packet of the connections opened from inside the place (its WAN traffic), both ways. */
  cut(place: Place): Promise<void>;
  heal(place: Place): Promise<void>;
  /** Removes every namespace made; safe to call twice. */
  close(): Promise<void>;
  /** The same, synchronously, for process exit. */
  closeNow(): void;
}

export const PREFIX = 'imgsim';

// Whatever happens to the run (an exception, a second Ctrl-C, process.exit),
// the namespaces go with the process.
const live = new Set<Network>();
process.once('exit', () => {
  for (const network of live) network.closeNow();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Namespaces and host-side veths of runs whose process is gone. */
export async function sweep(prefix = PREFIX): Promise<string[]> {
  const removed: string[] = [];
  const owner = new RegExp(`^${prefix}(\\d+)-\\d+$`);
  const veth = new RegExp(`^${prefix.slice(0, 3)}(\\d+)[hn]\\d+$`);
  const { stdout: spaces } = await run('ip', ['netns', 'list']);
  for (const name of spaces.split('\n').map((line) => line.split(' ')[0]!).filter(Boolean)) {
    const match = owner.exec(name);
    if (!match || alive(Number(match[1]))) continue;
    await run('ip', ['netns', 'del', name]).catch(() => {});
    removed.push(name);
  }
  const { stdout: links } = await run('ip', ['-o', 'link', 'show']);
  for (const name of links.split('\n').map((line) => line.split(': ')[1]?.split('@')[0]).filter((n): n is string => !!n)) {
    const match = veth.exec(name);
    if (!match || alive(Number(match[1]))) continue;
    await run('ip', ['link', 'del', name]).catch(() => {});
    removed.push(name);
  }
  return removed;
}

/** The first `count` /24s of 198.18.0.0/15 that no host interface uses yet. */
async function freeSubnets(count: number): Promise<number[]> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set<number>();
  for (const match of stdout.matchAll(/inet 198\.(18|19)\.(\d+)\.\d+/g)) used.add((Number(match[1]) - 18) * 256 + Number(match[2]));
  const free: number[] = [];
  for (let k = 0; k < 512 && free.length < count; k++) if (!used.has(k)) free.push(k);
  if (free.length < count) throw new Error(`only ${free.length} free /24s in 198.18.0.0/15`);
  return free;
}

const address = (subnet: number, host: number) => `198.${18 + (subnet >> 8)}.${subnet & 255}.${host}`;

async function hasNft(): Promise<boolean> {
  return run('nft', ['--version']).then(() => true, () => false);
}

// A cut tells an IDC's own connections (to its WAN links) from those the
// host opened into it (the readers') by conntrack's direction. Conntrack
// runs in a namespace only once a rule there needs it, and a connection it
// first meets mid-stream gets its direction from whichever packet comes
// first: a replication link on which the primary spoke first after the cut
// would be taken for one the host opened, and pass. So every IDC tracks its
// connections from their first packet, from the start.
const TRACK_RULES = [
  'add table inet imgsimtrack',
  'add chain inet imgsimtrack out { type filter hook output priority -10; policy accept; }',
  'add rule inet imgsimtrack out ct state new accept',
].join('; ');

const CUT_RULES = [
  'add table inet imgsim',
  'add chain inet imgsim out { type filter hook output priority 0; policy accept; }',
  'add rule inet imgsim out oif "lo" accept',
  'add rule inet imgsim out ct direction original drop',
  'add chain inet imgsim in { type filter hook input priority 0; policy accept; }',
  'add rule inet imgsim in iif "lo" accept',
  'add rule inet imgsim in ct direction reply drop',
].join('; ');

function loopback(count: number, note: string): Network {
  const places = Array.from({ length: count }, (_, i) => ({ name: `idc${i}`, host: '127.0.0.1', gateway: '127.0.0.1', wrap: [] }));
  const refuse = () => Promise.reject(new Error('no packet-level cut on loopback: cut the WAN links'));
  return { kind: 'loopback', note, places, canCut: false, cut: refuse, heal: refuse, close: async () => {}, closeNow: () => {} };
}

/** Namespaces when permitted, loopback (with the reason) when not. */
export async function makeNetwork(count: number, { prefix = PREFIX, allowNetns = true } = {}): Promise<Network> {
  if (!allowNetns) return loopback(count, 'namespaces not asked for: every IDC on 127.0.0.1');
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return loopback(count, 'not root on Linux: every IDC on 127.0.0.1, cuts made in the WAN links');
  try {
    await sweep(prefix);
  } catch (error) {
    return loopback(count, `ip netns unavailable (${(error as Error).message.split('\n')[0]}): every IDC on 127.0.0.1`);
  }
  // Host-side veths first: deleting one removes its pair at once, where a
  // namespace's own devices go only when the kernel gets round to it.
  const made: string[][] = [];
  const remove = async () => {
    for (const args of made.splice(0).reverse()) await run('ip', args).catch(() => {});
  };
  const removeNow = () => {
    for (const args of made.splice(0).reverse()) {
      try {
        execFileSync('ip', args, { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
  };
  try {
    const nft = await hasNft();
    const subnets = await freeSubnets(count);
    const places: Place[] = [];
    for (const [i, subnet] of subnets.entries()) {
      const name = `${prefix}${process.pid}-${i}`;
      const outside = `${prefix.slice(0, 3)}${process.pid}h${i}`;
      const inside = `${prefix.slice(0, 3)}${process.pid}n${i}`;
      await run('ip', ['netns', 'add', name]);
      made.push(['netns', 'del', name]);
      await run('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', name]);
      made.push(['link', 'del', outside]);
      await run('ip', ['addr', 'add', `${address(subnet, 1)}/24`, 'dev', outside]);
      await run('ip', ['link', 'set', outside, 'up']);
      await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', name, 'addr', 'add', `${address(subnet, 2)}/24`, 'dev', inside]);
      await run('ip', ['-n', name, 'link', 'set', inside, 'up']);
      if (nft) await run('ip', ['netns', 'exec', name, 'nft', TRACK_RULES]);
      places.push({ name: `idc${i}`, host: address(subnet, 2), gateway: address(subnet, 1), wrap: ['ip', 'netns', 'exec', name] });
    }
    const ns = (place: Place) => place.wrap[3]!;
    const network: Network = {
      kind: 'netns',
      note: nft ? 'one network namespace per IDC; cuts drop packets with nft' : 'one network namespace per IDC; no nft, so cuts are made in the WAN links',
      places,
      canCut: nft,
      cut: async (place) => void (await run('ip', ['netns', 'exec', ns(place), 'nft', CUT_RULES])),
      heal: async (place) => void (await run('ip', ['netns', 'exec', ns(place), 'nft', 'delete table inet imgsim'])),
      close: async () => {
        live.delete(network);
        await remove();
      },
      closeNow: removeNow,
    };
    live.add(network);
    return network;
  } catch (error) {
    await remove();
    return loopback(count, `ip netns not permitted (${(error as Error).message.split('\n')[0]}): every IDC on 127.0.0.1`);
  }
}
