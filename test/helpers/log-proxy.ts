// A proxy in front of an origin that can hold back its change log: an edge
// whose log is slow or unreachable while its images are not. While held, the
// log's requests wait, and so do the answers to those already passed on (a
// long poll the origin answers when an entry is added).
import http from 'node:http';
import { CHANGES_PATH } from '../../src/changelog/wire.js';

export interface LogHoldingProxy {
  readonly url: string;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function logHoldingProxy(originUrl: string): Promise<LogHoldingProxy> {
  const target = new URL(originUrl);
  let held: (() => void)[] | null = null;
  const upstreams = new Set<http.ClientRequest>();
  const whenReleased = (go: () => void) => (held ? held.push(go) : go());
  const server = http.createServer((req, res) => {
    const log = req.url?.startsWith(CHANGES_PATH) === true;
    const forward = () => {
      const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const pass = () => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (log) whenReleased(pass);
        else pass();
      });
      upstreams.add(upstream);
      upstream.on('close', () => upstreams.delete(upstream));
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (log) whenReleased(forward);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hold: () => void (held ??= []),
    release: () => {
      const waiting = held ?? [];
      held = null;
      for (const go of waiting) go();
    },
    // The long polls passed on go too: an origin closing waits for them.
    close: () => {
      for (const upstream of upstreams) upstream.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
