// Which raster format a source is, from its first bytes, before any decoder
// sees it: only JPEG, PNG, WebP, AVIF and GIF are handed to sharp. SVG in
// particular never is: rasterising it would run a parser that follows
// external references (and a browser would run its scripts).
import { UnsupportedImage } from '../errors.js';

export type SourceFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif';

export function sniffFormat(bytes: Buffer): SourceFormat {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG)) return 'png';
  if (bytes.length >= 6 && /^GIF8[79]a$/.test(bytes.toString('latin1', 0, 6))) return 'gif';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (bytes.length >= 12 && /^ftypavi[fs]$/.test(bytes.toString('latin1', 4, 12))) return 'avif';
  const start = bytes.toString('utf8', 0, Math.min(bytes.length, 512)).trimStart().toLowerCase();
  if (start.startsWith('<')) throw new UnsupportedImage('SVG and other markup sources are not transformed');
  throw new UnsupportedImage('the source is not a JPEG, PNG, WebP, AVIF or GIF image');
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
