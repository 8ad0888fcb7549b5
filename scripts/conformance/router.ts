// The base URL the suite's client talks to. The client sets a test up with
// `PUT /config/<uuid>` and reads what the origin saw with `GET /state/<uuid>`;
// those two go straight to the suite's server, so that the edge's public port
// keeps refusing PUT. Everything else (the `/test/<uuid>` requests under test)
// goes through the edge, untouched: the router must not add, drop or reorder
// an end-to-end header, or it would be tested instead of the edge.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// RFC 9110 §7.6.1: these belong to one connection, the router's own.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function endToEnd(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function endToEndFields(raw: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  const kept = endToEnd(raw);
  for (let i = 0; i + 1 < kept.length; i += 2) fields[kept[i]!.toLowerCase()] = kept[i + 1]!;
  return fields;
}

/** Which upstream a request goes to: the suite's server or the edge. */
export function routeOf(method: string | undefined, url: string | undefined): 'suite' | 'edge' {
  const path = (url ?? '/').split('?')[0]!;
  if (method === 'PUT' && /^\/config\/[^/]+$/.test(path)) return 'suite';
  if (method === 'GET' && /^\/state\/[^/]+$/.test(path)) return 'suite';
  return 'edge';
}

export interface Router {
  readonly url: string;
  close(): Promise<void>;
}

export async function startRouter(suiteUrl: string, edgeUrl: string): Promise<Router> {
  const upstreams = { suite: new URL(suiteUrl), edge: new URL(edgeUrl) };
  const server = http.createServer((req, res) => {
    // Node would add a Date of its own where the edge sent none.
    res.sendDate = false;
    const upstream = upstreams[routeOf(req.method, req.url)];
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: endToEnd(req.rawHeaders),
        // A connection per request, as the suite's client makes them: no idle
        // socket the edge might close just as it is reused.
        agent: false,
        // Bounded: a hung upstream fails the one test, not the run.
        timeout: 30_000,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEnd(upRes.rawHeaders));
        upRes.pipe(res);
        // An upstream that breaks mid-body must not look complete downstream.
        upRes.once('aborted', () => res.destroy());
        upRes.once('error', () => res.destroy());
      },
    );
    // Interim answers pass on as they came: the edge's handling of them is under test.
    forward.on('information', (info) => {
      if (info.statusCode === 102) res.writeProcessing();
      else if (info.statusCode === 103) res.writeEarlyHints(endToEndFields(info.rawHeaders));
    });
    forward.once('timeout', () => forward.destroy(new Error('upstream timed out')));
    forward.once('error', () => {
      // The suite's origin disconnects on purpose in some tests; pass that on.
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('conformance router: upstream failed\n');
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
