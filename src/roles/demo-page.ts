// The demo's sample images and its page. The page loads variants of every
// image through the edge with fetch(), so it can show each answer's
// Cache-Status, shows one <img srcset> the browser chooses from, and uploads
// new bytes to the origin, then asks the edge until it serves them.
import sharp from 'sharp';

export interface Sample {
  readonly name: string;
  readonly title: string;
  readonly width: number;
  readonly height: number;
  make(): Promise<Buffer>;
}

function svg(width: number, height: number, body: string): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`);
}

export const SAMPLES: readonly Sample[] = [
  {
    name: 'photos/sunset.jpg',
    title: 'sunset (JPEG)',
    width: 1600,
    height: 1000,
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
    title: 'mountains (JPEG)',
    width: 1200,
    height: 800,
    make: () =>
      sharp(svg(1200, 800, `
        <rect width="1200" height="800" fill="#9fd3f0"/>
        <polygon points="0,800 300,250 600,800" fill="#3d5a80"/>
        <polygon points="350,800 750,150 1150,800" fill="#293241"/>
        <polygon points="660,300 750,150 840,300" fill="#ffffff"/>`)).jpeg({ quality: 85 }).toBuffer(),
  },
  {
    name: 'icons/logo.png',
    title: 'logo (PNG with transparency)',
    width: 512,
    height: 512,
    make: () =>
      sharp(svg(512, 512, `
        <circle cx="256" cy="256" r="230" fill="#e63946"/>
        <text x="256" y="300" font-size="140" text-anchor="middle" fill="#fff" font-family="sans-serif">img</text>`)).png().toBuffer(),
  },
  {
    name: 'textures/noise.webp',
    title: 'noise (WebP)',
    width: 800,
    height: 600,
    make: () =>
      sharp({ create: { width: 800, height: 600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
        .webp({ quality: 80 })
        .toBuffer(),
  },
];

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The widths each image is shown at: variants the edge makes (w=…&format=auto), one per width. */
export const SIZES = [96, 192, 320];

export function demoPage({ originUrl, adminUrl, uploadToken }: { originUrl: string; adminUrl: string; uploadToken: string }): string {
  const figures = SAMPLES.map((s) => {
    const srcset = [160, 320, 640].map((w) => `/${escape(s.name)}?w=${w}&amp;format=auto ${w}w`).join(', ');
    return `
<figure data-path="/${escape(s.name)}" data-width="${s.width}" data-height="${s.height}">
  <div class="sizes">${SIZES.map((w) => `<div class="size"><img data-w="${w}" alt="${escape(s.title)}, ${w} px wide" width="${w}"><small>loading…</small></div>`).join('')}
    <div class="size"><img class="native" alt="${escape(s.title)}, chosen by the browser" width="160" sizes="160px"
      srcset="${srcset}" src="/${escape(s.name)}?w=320&amp;format=auto"><small>srcset: the browser picks</small></div></div>
  <figcaption>${escape(s.title)}, ${s.width}×${s.height}: <code>/${escape(s.name)}</code> <span class="original"></span></figcaption>
</figure>`;
  }).join('\n');
  const options = SAMPLES.map((s) => `<option value="/${escape(s.name)}">/${escape(s.name)}</option>`).join('');
  const settings = JSON.stringify({ origin: originUrl, token: uploadToken }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imgedge demo</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;background:#f6f7f9;color:#222}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(820px,1fr));gap:1.5rem}
figure{margin:0;background:#fff;border-radius:8px;padding:.75rem;box-shadow:0 1px 3px #0002}
.sizes{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end}
.size{display:flex;flex-direction:column;gap:.25rem}
.size small{font-size:.75rem;color:#555;max-width:320px}
img{height:auto;border-radius:4px;background:#ddd}
figcaption{font-size:.85rem;margin-top:.5rem}
code{background:#eef;padding:0 .2rem}
form{background:#fff;border-radius:8px;padding:1rem;margin:1rem 0 2rem;box-shadow:0 1px 3px #0002}
#result{font-family:ui-monospace,monospace;font-size:.85rem;white-space:pre-wrap}
</style></head><body>
<h1>imgedge demo</h1>
<p>Every image on this page comes through the edge, as a variant it makes from the one original: ${SIZES.join(', ')} px wide,
in the best format this browser accepts (<code>?w=…&amp;format=auto</code>), plus one <code>&lt;img srcset&gt;</code> whose
width the browser picks. The first view pulls each original from the origin once and makes each variant once; reload and
every one is served from the edge's disk. Under each image: its format, size and the edge's <code>Cache-Status</code>.
Metrics: <a href="${escape(adminUrl)}/metrics">${escape(adminUrl)}/metrics</a>.</p>
<form id="upload">
  <strong>Replace an image at the origin.</strong> The edge holds it fresh for an hour, yet serves the new bytes
  within a second, variants included: it follows the origin's change log.<br><br>
  <label>path <select name="path">${options}</select></label>
  <label>image <input type="file" name="file" accept="image/jpeg,image/png,image/webp,image/avif,image/gif"></label>
  <button type="submit" id="send">Upload</button>
  <button type="button" id="generate">Replace with a generated one</button>
  <div id="result"></div>
</form>
<main>
${figures}
</main>
<script>
const SETTINGS = ${settings};
const result = document.getElementById('result');
// What an <img> sends: fetch() alone says */*, which names no image format.
const ACCEPT = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';

/** One GET through the edge, never from the browser's cache. */
function edgeGet(url) {
  return fetch(url, { cache: 'no-store', headers: { accept: ACCEPT } });
}

/** Each variant of a figure: shown, with its format, size and the edge's Cache-Status. */
async function load(figure) {
  await Promise.all([...figure.querySelectorAll('img[data-w]')].map(async (img) => {
    const res = await edgeGet(figure.dataset.path + '?w=' + img.dataset.w + '&format=auto');
    if (!res.ok) throw new Error(figure.dataset.path + ' w=' + img.dataset.w + ': ' + res.status);
    const status = res.headers.get('cache-status') || '(none)';
    const type = (res.headers.get('content-type') || '').replace('image/', '');
    const url = URL.createObjectURL(await res.blob());
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error('not decoded: ' + figure.dataset.path + ' w=' + img.dataset.w));
      img.src = url;
    });
    img.dataset.cacheStatus = status;
    img.dataset.type = type;
    img.nextElementSibling.textContent = type + ' ' + img.naturalWidth + '×' + img.naturalHeight + ' · ' + status;
  }));
}

async function loadAll() {
  await Promise.all([...document.querySelectorAll('figure')].map(load));
  document.body.dataset.loaded = 'yes';
}

async function generated() {
  const canvas = document.createElement('canvas');
  canvas.width = 640; canvas.height = 400;
  const g = canvas.getContext('2d');
  const hue = Math.floor(Math.random() * 360);
  g.fillStyle = 'hsl(' + hue + ',70%,55%)';
  g.fillRect(0, 0, 640, 400);
  g.fillStyle = '#fff';
  g.font = 'bold 64px sans-serif';
  g.fillText(new Date().toLocaleTimeString(), 60, 220);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

async function upload(body) {
  const path = document.querySelector('select[name=path]').value;
  const figure = document.querySelector('figure[data-path="' + path + '"]');
  result.textContent = 'uploading ' + path + '…';
  const put = await fetch(SETTINGS.origin + path, { method: 'PUT', body, headers: { authorization: 'Bearer ' + SETTINGS.token } });
  if (!put.ok) { result.textContent = 'origin answered ' + put.status + ' ' + await put.text(); return; }
  const etag = put.headers.get('etag');
  const acked = performance.now();
  // Ask the edge until it serves the new original: it learns of it from the change log.
  for (;;) {
    const res = await edgeGet(path);
    await res.arrayBuffer();
    const ms = Math.round(performance.now() - acked);
    if (res.headers.get('etag') === etag) {
      await load(figure);
      // The browser's own copies of the srcset variants are an hour fresh: ask for the new ones by another URL.
      const native = figure.querySelector('img.native');
      native.srcset = native.srcset.replace(/format=auto/g, 'format=auto&v=' + put.headers.get('x-imgedge-seq'));
      result.textContent = 'origin: ' + put.status + ' ETag ' + etag + ' (log entry ' + put.headers.get('x-imgedge-seq') + ')\\n' +
        'edge:   the new bytes after ' + ms + ' ms, Cache-Status: ' + res.headers.get('cache-status');
      document.body.dataset.uploaded = etag;
      return;
    }
    if (ms > 10000) { result.textContent = 'the edge still serves the old bytes after 10 s'; return; }
    await new Promise((r) => setTimeout(r, 50));
  }
}

document.getElementById('upload').addEventListener('submit', (e) => {
  e.preventDefault();
  const file = document.querySelector('input[name=file]').files[0];
  if (!file) { result.textContent = 'pick an image first'; return; }
  upload(file).catch((err) => (result.textContent = String(err)));
});
document.getElementById('generate').addEventListener('click', () => {
  generated().then(upload).catch((err) => (result.textContent = String(err)));
});
loadAll().catch((err) => (result.textContent = String(err)));
</script>
</body></html>
`;
}
