// `imgedge demo` (what `npm start` runs): an origin seeded with generated
// sample images, an edge in front of it following the origin's change log,
// and a page served through the edge that shows the images and uploads new
// ones to the origin. It prints the URLs and the tokens.
import http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { DemoConfig } from '../config.js';
import { parseEdgeConfig } from '../config.js';
import { startEdge } from '../edge/server.js';
import { createOriginHandler, type Handler } from './origin/server.js';
import { OriginStore } from './origin/store.js';
import { writeFileDurably } from '../changelog/durable.js';
import { demoPage, SAMPLES } from './demo-page.js';

export interface RunningDemo {
  readonly originUrl: string;
  readonly edgeUrl: string;
  readonly adminUrl: string;
  readonly uploadToken: string;
  readonly adminToken: string;
  close(): Promise<void>;
}

/** The images are fresh for an hour: what the page shows changing comes from the change log, not from expiry. */
const MAX_AGE_SEC = 3600;

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as import('node:net').AddressInfo).port);
    });
  });
}

function shown(host: string, port: number): string {
  return `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
}

/** The demo's tokens, made once and kept in its dir, so a page cached by the edge keeps working across restarts. */
async function tokens(dir: string): Promise<{ upload: string; admin: string }> {
  const file = path.join(dir, 'tokens.json');
  const known = await fsp.readFile(file, 'utf8').then((t) => JSON.parse(t) as { upload: string; admin: string }, () => null);
  if (known?.upload && known.admin) return known;
  const made = { upload: `demo-upload-${randomBytes(9).toString('base64url')}`, admin: `demo-admin-${randomBytes(9).toString('base64url')}` };
  await writeFileDurably(file, JSON.stringify(made));
  return made;
}

/**
 * The page (from the edge's port) uploads to the origin's port: another
 * origin to the browser, so the demo's origin answers CORS for its writes.
 * The product's origin does not: uploaders are programs, not pages.
 */
function withCors(handler: Handler): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'etag, x-imgedge-seq');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'PUT, DELETE',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      }).end();
      return;
    }
    handler(req, res);
  };
}

export async function startDemo(config: DemoConfig, print: (text: string) => void = (text) => process.stdout.write(text)): Promise<RunningDemo> {
  const dir = path.resolve(config.dir);
  await fsp.mkdir(dir, { recursive: true });
  const { upload: uploadToken, admin: adminToken } = await tokens(dir);
  const store = await OriginStore.open(path.join(dir, 'origin'), { kind: 'file', options: { maxAgeMs: 7 * 86400_000, maxBytes: 16 * 1024 * 1024 } });
  for (const sample of SAMPLES) {
    const file = store.fileFor(`/${sample.name}`);
    if (await fsp.stat(file).catch(() => null)) continue;
    await store.put(`/${sample.name}`, Readable.from([await sample.make()]), 50 * 1024 * 1024);
  }
  const handler = createOriginHandler(store, { uploadToken, maxUploadBytes: 50 * 1024 * 1024, maxAgeSec: MAX_AGE_SEC });
  const originServer = http.createServer({ requestTimeout: 0 }, withCors(handler));
  originServer.on('checkContinue', withCors(handler));
  const originPort = await listen(originServer, config.originListen.host, config.originListen.port);
  const originUrl = shown(config.originListen.host, originPort);

  const edge = await startEdge(
    parseEdgeConfig(
      [
        '--origin', originUrl,
        '--listen', `${config.listen.host}:${config.listen.port}`,
        '--admin-listen', `${config.adminListen.host}:${config.adminListen.port}`,
        '--cache-dir', path.join(dir, 'cache'),
        '--cache-max-bytes', '256MiB',
        '--admin-token', adminToken,
        '--log-level', config.logLevel,
      ],
      {},
    ),
  );
  const edgePort = (edge.publicApp.server.address() as import('node:net').AddressInfo).port;
  const adminPort = (edge.adminApp.server.address() as import('node:net').AddressInfo).port;
  const edgeUrl = shown(config.listen.host, edgePort);
  const adminUrl = shown(config.adminListen.host, adminPort);

  // The page is not an image: written straight into the root, and when it
  // changed, the log says so, so the edge does not keep the old one for an hour.
  const pageFile = path.join(store.root, 'index.html');
  const page = demoPage({ originUrl, adminUrl, uploadToken });
  if ((await fsp.readFile(pageFile, 'utf8').catch(() => '')) !== page) {
    await writeFileDurably(pageFile, page);
    await store.log.append({ op: 'purge', path: '/' });
  }

  print(`
imgedge demo is running.

  open the page:   ${edgeUrl}/
  an image:        ${edgeUrl}/${SAMPLES[0]!.name}   (curl -sI it twice: fwd=miss, then hit)
  the origin:      ${originUrl}/   (files in ${store.root})
  upload token:    ${uploadToken}
                   curl -T photo.jpg -H 'Authorization: Bearer ${uploadToken}' ${originUrl}/photos/new.jpg
  the change log:  ${originUrl}/.imgedge/changes?from=1
  edge metrics:    ${adminUrl}/metrics
  admin token:     ${adminToken}
                   curl -X POST -H 'Authorization: Bearer ${adminToken}' -d '{"paths":["/${SAMPLES[0]!.name}"]}' -H 'Content-Type: application/json' ${adminUrl}/purge

Press Ctrl-C to stop.

`);
  return {
    originUrl,
    edgeUrl,
    adminUrl,
    uploadToken,
    adminToken,
    close: async () => {
      await edge.close();
      const closed = new Promise<void>((resolve) => originServer.close(() => resolve()));
      handler.endPolls();
      originServer.closeIdleConnections();
      const sweep = setInterval(() => originServer.closeIdleConnections(), 50);
      await closed.finally(() => clearInterval(sweep));
      await store.close();
    },
  };
}
