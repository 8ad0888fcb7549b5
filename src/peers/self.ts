// Which URL is this replica's own, when --self is not given: the listen
// address when it names one; else the member of --peers whose address is one
// of this host's, on the listen port; else (--peers-dns) this host's first
// external address on the listen port, which in a pod is the pod IP that the
// headless Service lists. Pure: the host's addresses are passed in.
import type { HostPort } from '../units.js';
import { memberUrl } from './membership.js';

export interface HostAddress {
  readonly address: string;
  readonly internal: boolean;
  readonly family: string;
}

const UNSPECIFIED = new Set(['', '0.0.0.0', '::', '[::]']);

export function deriveSelf(listen: HostPort, peers: readonly URL[] | undefined, host: readonly HostAddress[]): string | null {
  if (!UNSPECIFIED.has(listen.host)) return memberUrl('http:', listen.host, listen.port);
  if (peers) {
    const mine = new Set(host.map((a) => a.address));
    const found = peers.find((peer) => mine.has(peer.hostname.replace(/^\[|\]$/g, '')) && portOf(peer) === listen.port);
    return found ? found.origin : null;
  }
  const external = host.filter((a) => !a.internal);
  const address = external.find((a) => a.family === 'IPv4') ?? external[0];
  return address ? memberUrl('http:', address.address, listen.port) : null;
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}
