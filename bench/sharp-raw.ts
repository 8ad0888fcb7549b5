// The raw-sharp baseline, run as its own process pinned to the cache's core:
//   node dist/bench/sharp-raw.js --count N --source WxH --width W
// Makes the source, one unrecorded transform, then N in turn, to widths W,
// W+1, ... (as the edge's new variants are); prints {"ms": total} for the N.
import sharp from 'sharp';
import { benchJpeg, rawVariant } from './image.js';

async function main(argv: readonly string[]): Promise<void> {
  const arg = (name: string) => argv[argv.indexOf(`--${name}`) + 1]!;
  const count = Number(arg('count'));
  const [w, h] = arg('source').split('x').map(Number) as [number, number];
  const width = Number(arg('width'));
  sharp.cache(false);
  const source = await benchJpeg(w, h);
  await rawVariant(source, width);
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += (await rawVariant(source, width + i)).length;
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - started, bytes })}\n`);
}

void main(process.argv.slice(2));
