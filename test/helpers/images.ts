// Test images drawn by sharp: every format the edge transforms, an animated
// GIF, a JPEG whose EXIF says "rotate", and a PNG whose header claims far
// more pixels than any edge should decode.
import sharp from 'sharp';
import { crc32 } from 'node:zlib';

/** A gradient, so that encoders have something to encode and sizes differ. */
export async function photo(width: number, height: number, format: 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' = 'jpeg'): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = ((x + y) * 7) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer();
}

/** A 3-frame animated GIF. */
export async function animatedGif(width: number, height: number): Promise<Buffer> {
  const frames = Buffer.alloc(width * height * 3 * 4);
  for (let i = 0; i < frames.length; i++) frames[i] = (i * 31) & 0xff;
  return sharp(frames, { raw: { width, height: height * 3, channels: 4, pageHeight: height } as never })
    .gif({ loop: 0 })
    .toBuffer();
}

/** A landscape JPEG stored as-is, with EXIF orientation 6: shown, it is portrait. */
export async function rotatedJpeg(width: number, height: number): Promise<Buffer> {
  return sharp(await photo(width, height)).withExif({ IFD0: { Copyright: 'someone' } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
}

/** A PNG whose header says width × height, with a few bytes of pixel data: a decompression bomb's shape. */
export function bombPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
