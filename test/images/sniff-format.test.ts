import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { sniffFormat } from '../../src/images/index.ts';
import { SVG, heicLike, randomBytes } from './corpus.ts';

const tiny = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#c81e28' } });
const ascii = (text: string) => Buffer.from(text, 'latin1');

describe('sniffFormat', () => {
  it('recognises every format sharp writes from its bytes', async () => {
    expect(sniffFormat(await tiny().jpeg().toBuffer())).toMatchObject({ kind: 'image', format: 'jpeg' });
    expect(sniffFormat(await tiny().png().toBuffer())).toMatchObject({ kind: 'image', format: 'png' });
    expect(sniffFormat(await tiny().webp().toBuffer())).toMatchObject({ kind: 'image', format: 'webp' });
    expect(sniffFormat(await tiny().gif().toBuffer())).toMatchObject({ kind: 'image', format: 'gif' });
    expect(sniffFormat(await tiny().avif().toBuffer())).toMatchObject({ kind: 'image', format: 'avif' });
    expect(sniffFormat(await tiny().tiff().toBuffer())).toMatchObject({ kind: 'image', format: 'tiff' });
  });

  it('names what else people upload', () => {
    const cases: [Buffer, string][] = [
      [Buffer.from(SVG), 'SVG'],
      [Buffer.from('\uFEFF  <svg viewBox="0 0 1 1"></svg>'), 'SVG'],
      [Buffer.from('<!DOCTYPE html><html><body>Not found</body></html>'), 'HTML'],
      [Buffer.from('<?xml version="1.0"?><note/>'), 'XML'],
      [Buffer.from('{"url":"https://example.com/cat.png"}'), 'JSON'],
      [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1'), 'PDF'],
      [Buffer.from('hello, this is a text file with ünïcödé\n'), 'text'],
      [heicLike(), 'HEIC'],
      [Buffer.concat([ascii('BM'), Buffer.alloc(12), Buffer.from([40, 0, 0, 0])]), 'BMP'],
      [Buffer.concat([ascii('RIFF\0\0\0\0WAVEfmt '), Buffer.alloc(8)]), 'a WAV sound'],
      [Buffer.concat([Buffer.from([0, 0, 0, 0x18]), ascii('ftypmp42\0\0\0\0isommp42')]), 'an MP4 video'],
      [Buffer.concat([ascii('PK\x03\x04'), Buffer.alloc(20)]), 'a ZIP archive'],
      [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), 'a gzip archive'],
      [Buffer.from([0xff, 0x0a, 0, 0]), 'JPEG XL'],
      [ascii('8BPS\0\x01'), 'Photoshop PSD'],
      [Buffer.concat([Buffer.from([0x7f]), ascii('ELF'), Buffer.alloc(12)]), 'a program'],
      [randomBytes(1000, 3), 'unknown data'],
      [Buffer.alloc(0), 'an empty file'],
    ];
    for (const [bytes, name] of cases) expect(sniffFormat(bytes), name).toEqual({ kind: 'other', name });
  });

  it('trusts only the first bytes, not what follows', async () => {
    // A PNG appended to an HTML page is still an HTML page.
    const html = Buffer.concat([Buffer.from('<html>'), await tiny().png().toBuffer()]);
    expect(sniffFormat(html).kind).toBe('other');
  });

  it('never throws and never calls random data an image', () => {
    for (let seed = 1; seed <= 500; seed++) {
      expect(sniffFormat(randomBytes(1 + (seed % 64), seed))).toMatchObject({ kind: 'other' });
    }
  });
});
