// A purge given to one replica, passed on to the others' admin ports, so an
// operator purges once per IDC. The replicas of a Deployment share their
// ports, so a peer's admin port is this one's, on the peer's host. The passed
// on purge is marked (PEER_HEADER) and goes no further.
import { request } from 'undici';
import { PEER_HEADER } from './peer-client.js';

export interface FanOutOptions {
  readonly self: string;
  readonly adminPort: number;
  readonly adminToken: string;
  readonly timeoutMs: number;
}

/** Sends the purge to every other member; resolves with those that did not confirm it. */
export async function fanOutPurge(members: readonly string[], purge: { readonly paths: readonly string[]; readonly prefixes: readonly string[] }, options: FanOutOptions): Promise<string[]> {
  const others = members.filter((m) => m !== options.self);
  const results = await Promise.all(
    others.map(async (member) => {
      const admin = new URL(member);
      admin.port = String(options.adminPort);
      admin.protocol = 'http:';
      try {
        const response = await request(new URL('/purge', admin), {
          method: 'POST',
          headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json', [PEER_HEADER]: options.self },
          body: JSON.stringify({ paths: purge.paths, prefixes: purge.prefixes }),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        await response.body.dump();
        return response.statusCode === 200 ? null : `${admin.origin} (${response.statusCode})`;
      } catch (error) {
        return `${admin.origin} (${(error as { code?: string }).code ?? (error as Error).name})`;
      }
    }),
  );
  return results.filter((r): r is string => r !== null);
}
