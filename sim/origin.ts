// The origin IDC's server: `imgedge origin`'s handler over a directory, read
// only (no upload token), with one listener per edge IDC (each IDC's WAN link
// ends at its own port), so every fetch can be told apart by the IDC it came
// from. One JSON line per answered GET of an object on stdout:
// {"idc":i,"path":…,"status":…}; the edges' polls of the change log are not objects.
// usage: node dist/sim/origin.js --dir DIR --host ADDR --ports P1,P2,…
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createOriginHandler } from '../src/roles/origin/server.js';
import { OriginStore } from '../src/roles/origin/store.js';
import { CHANGES_PATH } from '../src/changelog/wire.js';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, host: { type: 'string' }, ports: { type: 'string' } },
  strict: true,
});
if (!values.dir || !values.host || !values.ports) {
  console.error('usage: origin.js --dir DIR --host ADDR --ports P1,P2,…');
  process.exit(2);
}
// Objects never change in this fleet: an hour of freshness keeps revalidations out of the counts.
const store = await OriginStore.open(values.dir, { kind: 'file', options: { maxAgeMs: 86_400_000, maxBytes: 16 * 1024 * 1024 } });
const handle = createOriginHandler(store, { uploadToken: undefined, maxUploadBytes: 1, maxAgeSec: 3600 });
const servers = values.ports.split(',').map((port, idc) => {
  const server = http.createServer((req, res) => {
    res.on('finish', () => {
      if (req.method === 'GET' && !req.url?.startsWith(CHANGES_PATH)) process.stdout.write(`${JSON.stringify({ idc, path: req.url, status: res.statusCode })}\n`);
    });
    handle(req, res);
  });
  return new Promise<http.Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), values.host, () => resolve(server));
  });
});
Promise.all(servers).then(
  (listening) => {
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    const stop = () => {
      handle.endPolls();
      for (const server of listening) server.close();
      for (const server of listening) server.closeAllConnections();
      void store.close();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (error: Error) => {
    console.error(`origin: ${error.message}`);
    process.exit(1);
  },
);
