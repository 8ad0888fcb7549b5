// The benchmark's source image: a photo-like JPEG (gradients and noise, so
// the encoder has work), the same bytes wherever it is made, so the origin
// and the raw-sharp baseline decode exactly one file.
import sharp from 'sharp';

export async function benchJpeg(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let x = 0x2545f491;
  for (let y = 0; y < height; y++) {
    for (let c = 0; c < width; c++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const i = (y * width + c) * 3;
      const noise = (x >>> 24) & 0x1f;
      raw[i] = ((c * 255) / width + noise) & 0xff;
      raw[i + 1] = ((y * 255) / height + noise) & 0xff;
      raw[i + 2] = (((c + y) >> 2) + noise) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** What the edge does for `?w=WIDTH&format=webp`, called straight: the baseline. */
export function rawVariant(source: Buffer, width: number): Promise<Buffer> {
  return sharp(source, { failOn: 'error' }).rotate().resize({ width, withoutEnlargement: true }).webp().toBuffer();
}
