// What an upload is, from its first bytes: the five image formats the origin
// stores. The extension and the client's Content-Type are not trusted; SVG
// (script in an image) and everything else is refused.
export type ImageType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp' | 'image/avif';

/** Enough bytes for every check below. */
export const SNIFF_BYTES = 64;

const ascii = (buf: Buffer, start: number, end: number) => buf.toString('latin1', start, end);

/** ISO BMFF (AVIF): an ftyp box whose major or a compatible brand is avif or avis. */
function isAvif(buf: Buffer): boolean {
  if (buf.length < 16 || ascii(buf, 4, 8) !== 'ftyp') return false;
  const boxSize = buf.readUInt32BE(0);
  const end = Math.min(buf.length, boxSize);
  if (boxSize < 16) return false;
  const brands = [ascii(buf, 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(buf, at, at + 4));
  return brands.some((b) => b === 'avif' || b === 'avis');
}

export function sniffImage(head: Buffer): ImageType | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (head.length >= 6 && (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a')) return 'image/gif';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'image/webp';
  if (isAvif(head)) return 'image/avif';
  return null;
}
