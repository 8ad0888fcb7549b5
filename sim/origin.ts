// The origin IDC's server until `imgedge origin` exists: the read-only
// static origin over a directory, with one listener per edge IDC (each IDC's
// WAN link ends at its own port), so every fetch can be told apart by the IDC
// it came from. One JSON line per answered GET on stdout: {"idc":i,"path":…,"status":…}.
// usage: node dist/sim/origin.js --dir DIR --host ADDR --ports P1,P2,…
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createStaticHandler } from '../src/roles/origin/static.js';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, host: { type: 'string' }, ports: { type: 'string' } },
  strict: true,
});
if (!values.dir || !values.host || !values.ports) {
  console.error('usage: origin.js --dir DIR --host ADDR --ports P1,P2,…');
  process.exit(2);
}
// Objects never change in this fleet: an hour of freshness keeps revalidations out of the counts.
const handle = createStaticHandler(values.dir, { maxAgeSec: 3600 });
const servers = values.ports.split(',').map((port, idc) => {
  const server = http.createServer((req, res) => {
    res.on('finish', () => {
      if (req.method === 'GET') process.stdout.write(`${JSON.stringify({ idc, path: req.url, status: res.statusCode })}\n`);
    });
    void handle(req, res);
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
      for (const server of listening) server.close();
      for (const server of listening) server.closeAllConnections();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (error: Error) => {
    console.error(`origin: ${error.message}`);
    process.exit(1);
  },
);
