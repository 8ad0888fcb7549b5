// One replica of the origin IDC's `imgedge origin`, started exactly as the
// command starts it (its flags after `--`: a bucket root, the Redis stream,
// the upload token), and given one more listener per edge IDC (each IDC's WAN
// link ends at its own port), so every fetch can be told apart by the IDC it
// came from. Uploads go to the origin's own listener. One JSON line per
// answered GET on an IDC's port on stdout: {"idc":i,"path":…,"status":…,"etag":…,"ms":…,"at":…,"by":…},
// ms from the request to the last byte handed to the WAN link, at then (the
// machine's clock: what the driver reads it at is later by the pipe's delay),
// by the edge that sent it (its name in the last Via entry).
// usage: node dist/sim/origin.js --idc-ports P1,P2,… -- ORIGIN FLAGS…
import http from 'node:http';
import { parseArgs } from 'node:util';
import { parseOriginConfig } from '../src/config.js';
import { startOrigin } from '../src/roles/origin/server.js';

const split = process.argv.indexOf('--');
const { values } = parseArgs({ args: process.argv.slice(2, split < 0 ? undefined : split), options: { 'idc-ports': { type: 'string' } }, strict: true });
if (split < 0 || !values['idc-ports']) {
  console.error('usage: origin.js --idc-ports P1,P2,… -- ORIGIN FLAGS…');
  process.exit(2);
}
const config = parseOriginConfig(process.argv.slice(split + 1), process.env);
const origin = await startOrigin(config);
const servers = values['idc-ports'].split(',').map((port, idc) => {
  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    const began = performance.now();
    // Headers given to writeHead are not kept for getHeader: the ETag (which version was sent) is read on the way out.
    let etag: unknown = null;
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http.ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      const headers = args.find((arg): arg is Record<string, unknown> => typeof arg === 'object' && arg !== null && !Array.isArray(arg));
      etag = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'etag')?.[1] ?? res.getHeader('etag') ?? null;
      return writeHead(...args);
    }) as typeof res.writeHead;
    res.on('finish', () => {
      if (req.method !== 'GET') return;
      process.stdout.write(`${JSON.stringify({ idc, path: req.url, status: res.statusCode, etag, ms: Math.round(performance.now() - began), at: Date.now(), by: fetchedBy(req.headers.via) })}\n`);
    });
    // The origin's own handler: what an IDC's port answers is what `imgedge origin` answers.
    origin.server.emit('request', req, res);
  });
  return new Promise<http.Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), config.listen.host, () => resolve(server));
  });
});
/** The received-by of a Via field's last entry: the edge that sent the request on. */
function fetchedBy(via: string | undefined): string | null {
  return via?.split(',').at(-1)?.trim().split(/[ \t]+/)[1] ?? null;
}

Promise.all(servers).then(
  (listening) => {
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    const stop = () => {
      for (const server of listening) server.close();
      for (const server of listening) server.closeAllConnections();
      void origin.close().then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (error: Error) => {
    console.error(`origin: ${error.message}`);
    process.exit(1);
  },
);
