// `imgedge demo` as a visitor sees it: the page through the edge, its images,
// an upload through its form, in a real browser (Debian's chromium, driven by
// playwright-core). Skipped, with the reason, where chromium is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseDemoConfig } from '../../src/config.js';
import { startDemo, type RunningDemo } from '../../src/roles/demo.js';
import { SAMPLES, SIZES } from '../../src/roles/demo-page.js';
import { tempDir, PROJECT_ROOT } from '../helpers/edge.js';
import { samplePng } from '../helpers/imgedge-origin.js';
import { get, sha256 } from '../helpers/http.js';

/** The little of the DOM the checks read (the project compiles without the DOM types). */
interface ShownImage {
  readonly dataset: Record<string, string | undefined>;
  readonly complete: boolean;
  readonly naturalWidth: number;
  readonly naturalHeight: number;
  readonly width: number;
}
interface Shown {
  readonly dataset: Record<string, string>;
  querySelectorAll(selector: 'img'): Iterable<ShownImage>;
}

/** Where the browser test leaves its screenshot. */
const OUTPUT = path.join(PROJECT_ROOT, 'test-results');

async function demo(t: import('node:test').TestContext): Promise<RunningDemo> {
  const dir = tempDir('demo');
  let printed = '';
  const running = await startDemo(
    parseDemoConfig(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--origin-listen', '127.0.0.1:0', '--dir', dir, '--log-level', 'silent'], {}),
    (text) => (printed += text),
  );
  t.after(async () => {
    await running.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(printed.includes(running.edgeUrl) && printed.includes(running.uploadToken) && printed.includes(running.adminToken), printed);
  return running;
}

test('the demo serves its page and images through the edge, and an upload at its origin shows at the edge', async (t) => {
  const running = await demo(t);
  const page = await get(running.edgeUrl, '/');
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /<form id="upload">/);
  for (const sample of SAMPLES) {
    const res = await get(running.edgeUrl, `/${sample.name}`);
    assert.equal(res.status, 200, sample.name);
    assert.match(String(res.headers['cache-status']), /^imgedge;/);
  }
  // The page uploads from the edge's port to the origin's: the demo's origin answers the preflight.
  const preflight = await fetch(`${running.originUrl}/photos/sunset.jpg`, {
    method: 'OPTIONS',
    headers: { origin: running.edgeUrl, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization' },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-methods')!, /PUT/);
  const replacement = await samplePng(7, 300, 200);
  const put = await fetch(`${running.originUrl}/photos/sunset.jpg`, {
    method: 'PUT', body: replacement, headers: { authorization: `Bearer ${running.uploadToken}` },
  });
  assert.equal(put.status, 204);
  const deadline = Date.now() + 2000;
  for (;;) {
    const res = await get(running.edgeUrl, '/photos/sunset.jpg');
    if (sha256(res.body) === sha256(replacement)) break;
    assert.ok(Date.now() < deadline, 'the edge serves the upload within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Purge works with the printed admin token.
  const purge = await fetch(`${running.adminUrl}/purge`, {
    method: 'POST', headers: { authorization: `Bearer ${running.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ paths: ['/photos/sunset.jpg'] }),
  });
  assert.equal(purge.status, 200);
});

function chromiumPath(): string | null {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

const CHROMIUM = chromiumPath();

test('in a real browser: every image decodes at its size, an upload through the form shows, a reload is served from the cache', { skip: CHROMIUM ? false : 'chromium is not installed (apt-get install -y chromium)', timeout: 90_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const running = await demo(t);
  const browser = await chromium.launch({
    executablePath: CHROMIUM!,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${running.edgeUrl}/`);
  await page.waitForSelector('body[data-loaded="yes"]', { timeout: 20_000 });

  const shown = await page.$$eval('figure', (figures) =>
    figures.map((f) => ({
      path: (f as unknown as Shown).dataset.path!,
      images: [...(f as unknown as Shown).querySelectorAll('img')].map((img) => ({
        w: img.dataset.w, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
        status: img.dataset.cacheStatus, type: img.dataset.type,
      })),
    })),
  );
  assert.equal(shown.length, SAMPLES.length);
  for (const sample of SAMPLES) {
    const figure = shown.find((f) => f.path === `/${sample.name}`)!;
    const variants = figure.images.filter((i) => i.w !== undefined);
    assert.deepEqual(variants.map((i) => Number(i.w)), SIZES);
    for (const image of variants) {
      assert.equal(image.complete, true);
      assert.equal(image.naturalWidth, Number(image.w), `${sample.name} w=${image.w}`);
      assert.ok(Math.abs(image.naturalHeight - (Number(image.w) * sample.height) / sample.width) <= 1, `${sample.name} w=${image.w}: ${image.naturalHeight} high`);
      assert.match(image.status!, /^imgedge;/);
      assert.match(image.type!, /^(avif|webp)$/, 'format=auto picked a format the browser named');
    }
    const native = figure.images.find((i) => i.w === undefined)!;
    assert.ok(native.complete && native.naturalWidth > 0, `${sample.name}: the srcset image decoded`);
  }

  // "Replace with a generated one" for the first image: PUT to the origin, then the edge serves it.
  await page.selectOption('select[name=path]', `/${SAMPLES[0]!.name}`);
  await page.click('#generate');
  await page.waitForSelector('body[data-uploaded]', { timeout: 10_000 });
  const result = await page.textContent('#result');
  t.diagnostic(result ?? '');
  const ms = Number(/after (\d+) ms/.exec(result ?? '')?.[1]);
  assert.ok(ms < 2000, `the edge served the new bytes after ${ms} ms`);
  const replaced = await page.$$eval(`figure[data-path="/${SAMPLES[0]!.name}"] img[data-w]`, (imgs) =>
    imgs.map((i) => [(i as unknown as ShownImage).naturalWidth, (i as unknown as ShownImage).naturalHeight]));
  assert.deepEqual(replaced, [[96, 60], [192, 120], [320, 200]], 'variants of the generated 640×400 image are shown');
  fs.mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: path.join(OUTPUT, 'demo-after-upload.png'), fullPage: true });

  await page.reload();
  await page.waitForSelector('body[data-loaded="yes"]', { timeout: 20_000 });
  const statuses = await page.$$eval('img[data-w]', (imgs) => imgs.map((i) => (i as unknown as ShownImage).dataset.cacheStatus!));
  assert.equal(statuses.length, SAMPLES.length * SIZES.length);
  for (const status of statuses) assert.match(status, /^imgedge; hit/, 'a reload is served from the cache');
  await page.screenshot({ path: path.join(OUTPUT, 'demo-reloaded.png'), fullPage: true });
  t.diagnostic(`screenshots in ${OUTPUT}`);
  assert.deepEqual(errors, []);
});
