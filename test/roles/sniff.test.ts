import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { sniffImage, SNIFF_BYTES } from '../../src/roles/origin/sniff.js';

const base = () => sharp({ create: { width: 16, height: 16, channels: 3, background: '#36c' } });

test('the five image formats are known by their first bytes, whatever they are called', async () => {
  const cases: [string, Buffer][] = [
    ['image/jpeg', await base().jpeg().toBuffer()],
    ['image/png', await base().png().toBuffer()],
    ['image/gif', await base().gif().toBuffer()],
    ['image/webp', await base().webp().toBuffer()],
    ['image/avif', await base().avif().toBuffer()],
  ];
  for (const [type, bytes] of cases) assert.equal(sniffImage(bytes.subarray(0, SNIFF_BYTES)), type);
});

test('SVG, HEIC, text, truncated signatures and nothing at all are not images', () => {
  const ftyp = (brand: string, compatible: string[]) => {
    const box = Buffer.alloc(16 + compatible.length * 4);
    box.writeUInt32BE(box.length, 0);
    box.write('ftyp', 4, 'latin1');
    box.write(brand, 8, 'latin1');
    compatible.forEach((c, i) => box.write(c, 16 + i * 4, 'latin1'));
    return box;
  };
  for (const bytes of [
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    Buffer.from('<?xml version="1.0"?><svg/>'),
    ftyp('heic', ['mif1', 'heic']),
    ftyp('mp42', ['isom']),
    Buffer.from('GIF8'),
    Buffer.from([0xff, 0xd8]),
    Buffer.from('RIFF\0\0\0\0WAVE'),
    Buffer.alloc(0),
  ]) {
    assert.equal(sniffImage(bytes), null, bytes.toString('latin1').slice(0, 20));
  }
  assert.equal(sniffImage(ftyp('mif1', ['avif'])), 'image/avif', 'avif as a compatible brand');
});
