// The WAN links in a process of their own, run at a higher priority than the
// fleet (nice -10 where allowed). A link is the network: its delay must not
// grow when the machine is busy, as a real WAN's does not when an IDC's
// servers are. In the harness's process a chunk's timer waited behind the
// readers, the probes and the report's bookkeeping, and behind every other
// process of the fleet for a core: hundreds of milliseconds at the worst.
// Driven over IPC by LinkHost (links.ts); exits when its parent goes.
import os from 'node:os';
import { WanLink } from './link.js';
import { Random } from '../soak/random.js';
import type { HostReply, HostRequest } from './links.js';

const NICENESS = -10;

const links: WanLink[] = [];

function niceness(): string {
  try {
    os.setPriority(NICENESS);
    return `nice ${NICENESS}`;
  } catch (error) {
    return `nice ${os.getPriority()} (${(error as NodeJS.ErrnoException).code ?? 'not allowed'})`;
  }
}

async function handle(request: HostRequest): Promise<HostReply> {
  switch (request.op) {
    case 'open': {
      const { seed, ...options } = request.options;
      const random = new Random(seed);
      const link = await WanLink.open({ ...options, random: () => random.next() });
      links.push(link);
      return { id: request.id, port: link.port, link: links.length - 1 };
    }
    case 'cut':
      links[request.link]!.cut(request.mode);
      return { id: request.id };
    case 'heal':
      links[request.link]!.heal();
      return { id: request.id };
    case 'figures':
      return { id: request.id, figures: links.map((link) => ({ stats: link.stats, stallsAt: link.stallsAt })) };
    case 'close':
      await Promise.all(links.map((link) => link.close()));
      return { id: request.id };
  }
}

const send = (message: unknown) => process.send!(message);
process.on('message', (request: HostRequest) => {
  handle(request).then(send, (error: unknown) => send({ id: request.id, error: (error as Error).message }));
});
process.on('disconnect', () => process.exit(0));
send({ ready: niceness() });
