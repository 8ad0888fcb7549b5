// Child-process entry: the suite's origin server, made of the package's own
// server/ handlers for /config, /test and /state, dispatched as
// server/server.mjs does. We do not run server.mjs itself because it listens
// on every interface at a port chosen up front and writes a pid file into its
// working directory; here it is 127.0.0.1, a free port, and no file.
// The suite's checkout is the first argument (the npm release when absent).
// Prints one JSON line {"port": N} once listening; exits when stdin closes, so
// it never outlives the harness that started it.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { locateSuite } from './suite.js';

const suite = locateSuite(process.argv[2]);

type Handler = (pathSegs: string[], request: http.IncomingMessage, response: http.ServerResponse) => void;

async function handler(file: string): Promise<Handler> {
  const loaded: unknown = await import(pathToFileURL(path.join(suite.engine, 'server', file)).href);
  const fn = typeof loaded === 'object' && loaded !== null && 'default' in loaded ? loaded.default : undefined;
  if (typeof fn !== 'function') throw new Error(`http-cache-tests: server/${file} has no default handler`);
  return fn as Handler;
}

const handlers: Readonly<Record<string, Handler>> = {
  config: await handler('handle-config.mjs'),
  test: await handler('handle-test.mjs'),
  state: await handler('handle-state.mjs'),
};

const server = http.createServer((request, response) => {
  const pathSegs = new URL(request.url ?? '/', 'http://localhost/').pathname.split('/');
  pathSegs.shift();
  const dispatch = handlers[pathSegs.shift() ?? ''];
  if (dispatch) return dispatch(pathSegs, request, response);
  // server.mjs would serve files from its working directory here; the tests never ask.
  response.writeHead(404, { 'content-type': 'text/plain' }).end('not a suite path\n');
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

process.stdin.resume();
process.stdin.once('end', () => process.exit(0));
process.stdin.once('error', () => process.exit(0));
