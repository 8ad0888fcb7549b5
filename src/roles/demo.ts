// `imgedge demo` (what `npm start` runs): a directory of generated sample
// images served as an origin, an edge in front of it, and a page that shows
// the images through the edge. It prints the URLs to open.
import http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { DemoConfig } from '../config.js';
import { parseEdgeConfig } from '../config.js';
import { startEdge } from '../edge/server.js';
import { createStaticHandler } from './origin/static.js';

export interface RunningDemo {
  readonly originUrl: string;
  readonly edgeUrl: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

interface Sample {
  readonly name: string;
  readonly title: string;
  make(): Promise<Buffer>;
}

function svg(width: number, height: number, body: string): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`);
}

const SAMPLES: readonly Sample[] = [
  {
    name: 'photos/sunset.jpg',
    title: 'sunset (JPEG, 1600×1000)',
    make: () =>
      sharp(svg(1600, 1000, `
        <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
          <stop offset="0" stop-color="#1d2b64"/><stop offset="0.6" stop-color="#f8a15c"/><stop offset="1" stop-color="#f0c27b"/>
        </linearGradient></defs>
        <rect width="1600" height="1000" fill="url(#sky)"/>
        <circle cx="800" cy="700" r="180" fill="#ffdd88"/>
        <rect y="760" width="1600" height="240" fill="#1b3a4b"/>`)).jpeg({ quality: 85 }).toBuffer(),
  },
  {
    name: 'photos/mountains.jpg',
    title: 'mountains (JPEG, 1200×800)',
    make: () =>
      sharp(svg(1200, 800, `
        <rect width="1200" height="800" fill="#9fd3f0"/>
        <polygon points="0,800 300,250 600,800" fill="#3d5a80"/>
        <polygon points="350,800 750,150 1150,800" fill="#293241"/>
        <polygon points="660,300 750,150 840,300" fill="#ffffff"/>`)).jpeg({ quality: 85 }).toBuffer(),
  },
  {
    name: 'icons/logo.png',
    title: 'logo (PNG with transparency, 512×512)',
    make: () =>
      sharp(svg(512, 512, `
        <circle cx="256" cy="256" r="230" fill="#e63946"/>
        <text x="256" y="300" font-size="140" text-anchor="middle" fill="#fff" font-family="sans-serif">img</text>`)).png().toBuffer(),
  },
  {
    name: 'textures/noise.webp',
    title: 'noise (WebP, 800×600)',
    make: () =>
      sharp({ create: { width: 800, height: 600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
        .webp({ quality: 80 })
        .toBuffer(),
  },
];

function page(edgeUrl: string, adminUrl: string): string {
  const figures = SAMPLES.map(
    (s) => `<figure><img src="/${s.name}" alt="${s.title}" loading="lazy"><figcaption>${s.title}<br><code>/${s.name}</code></figcaption></figure>`,
  ).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imgedge demo</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;background:#f6f7f9;color:#222}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:1.5rem}
figure{margin:0;background:#fff;border-radius:8px;padding:.75rem;box-shadow:0 1px 3px #0002}
img{width:100%;height:200px;object-fit:cover;border-radius:4px;background:#ddd}
figcaption{font-size:.9rem;margin-top:.5rem}
</style></head><body>
<h1>imgedge demo</h1>
<p>Every image on this page came through the edge at <code>${edgeUrl}</code>. The first view pulls each one from the origin once;
reload and they are served from the edge's disk (response header <code>Cache-Status: imgedge; hit</code>).
Metrics: <a href="${adminUrl}/metrics">${adminUrl}/metrics</a>.</p>
<main>
${figures}
</main></body></html>
`;
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function shown(host: string, port: number): string {
  return `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
}

export async function startDemo(config: DemoConfig): Promise<RunningDemo> {
  const root = path.resolve(config.dir, 'origin');
  await fsp.mkdir(root, { recursive: true });
  const edgeUrl = shown(config.listen.host, config.listen.port);
  const adminUrl = shown(config.adminListen.host, config.adminListen.port);
  for (const sample of SAMPLES) {
    const file = path.join(root, sample.name);
    if (await fsp.stat(file).catch(() => null)) continue;
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, await sample.make());
  }
  await fsp.writeFile(path.join(root, 'index.html'), page(edgeUrl, adminUrl));

  const handler = createStaticHandler(root, { maxAgeSec: 60 });
  const originServer = http.createServer((req, res) => void handler(req, res));
  await listen(originServer, config.originListen.host, config.originListen.port);
  const originUrl = shown(config.originListen.host, config.originListen.port);

  const edge = await startEdge(
    parseEdgeConfig(
      [
        '--origin', originUrl,
        '--listen', `${config.listen.host}:${config.listen.port}`,
        '--admin-listen', `${config.adminListen.host}:${config.adminListen.port}`,
        '--cache-dir', path.resolve(config.dir, 'cache'),
        '--cache-max-bytes', '256MiB',
        '--log-level', config.logLevel,
      ],
      {},
    ),
  );
  process.stdout.write(`
imgedge demo is running.

  open the page:   ${edgeUrl}/
  an image:        ${edgeUrl}/${SAMPLES[0]!.name}   (curl -sI it twice: fwd=miss, then hit)
  edge metrics:    ${adminUrl}/metrics
  the origin:      ${originUrl}/   (sample files in ${root})

Press Ctrl-C to stop.

`);
  return {
    originUrl,
    edgeUrl,
    adminUrl,
    close: async () => {
      await edge.close();
      await new Promise<void>((resolve) => originServer.close(() => resolve()));
    },
  };
}
