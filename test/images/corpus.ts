import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { seededRandom } from '../helpers/tiny-vgg.ts';

/**
 * Test inputs made on the spot with sharp and byte surgery: nothing downloaded, nothing checked in. Colours are
 * chosen well inside every gamut involved so that lossy formats land within a few levels.
 */

export type Colour = readonly [number, number, number];

export const RED: Colour = [220, 40, 40];
export const GREEN: Colour = [40, 200, 60];
export const BLUE: Colour = [30, 60, 210];
export const YELLOW: Colour = [230, 210, 40];

/** Four flat quadrants, by default top-left RED, top-right GREEN, bottom-left BLUE, bottom-right YELLOW. */
export function quadrants(
  width: number,
  height: number,
  [topLeft, topRight, bottomLeft, bottomRight]: readonly [Colour, Colour, Colour, Colour] = [RED, GREEN, BLUE, YELLOW],
): RgbImage {
  const row = (left: Colour, right: Colour) => {
    const line = new Uint8Array(width * 3);
    for (let x = 0; x < width; x++) line.set(x < width / 2 ? left : right, x * 3);
    return line;
  };
  const topRow = row(topLeft, topRight);
  const bottomRow = row(bottomLeft, bottomRight);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set(y < height / 2 ? topRow : bottomRow, y * width * 3);
  return { width, height, data };
}

export function solid(width: number, height: number, colour: Colour): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(colour, i);
  return { width, height, data };
}

export function fromRgb(image: RgbImage) {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** The pixel at (x, y). */
export function pixelAt(image: RgbImage, x: number, y: number): Colour {
  const i = (y * image.width + x) * 3;
  return [image.data[i]!, image.data[i + 1]!, image.data[i + 2]!];
}

/** Largest per-channel difference. */
export function colourDistance(a: Colour, b: Colour): number {
  return Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1]), Math.abs(a[2] - b[2]));
}

export function randomBytes(length: number, seed = 1): Buffer {
  const random = seededRandom(seed);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

// --- PNG byte surgery -------------------------------------------------------------------------------------

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

export interface PngChunkInfo {
  type: string;
  /** Offset of the chunk's length field. */
  offset: number;
  length: number;
}

export function pngChunks(png: Buffer): PngChunkInfo[] {
  const chunks: PngChunkInfo[] = [];
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    chunks.push({ type: png.toString('latin1', offset + 4, offset + 8), offset, length });
    offset += 12 + length;
  }
  return chunks;
}

/**
 * A decompression bomb: a valid PNG header declaring `width`×`height` RGB pixels (30000² = 2.7 GB decoded) with
 * correct CRCs, followed by a few kilobytes of compressed rows.
 */
export async function pngBomb(width: number, height: number): Promise<Buffer> {
  const { deflateSync } = await import('node:zlib');
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = deflateSync(Buffer.alloc(64 * (1 + width * 3)), { level: 9 });
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', rows),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Flips one byte of the CRC of the first chunk of `type`. */
export function breakPngCrc(png: Buffer, type: string): Buffer {
  const chunk = pngChunks(png).find((c) => c.type === type);
  if (!chunk) throw new Error(`no ${type} chunk`);
  const broken = Buffer.from(png);
  const crcOffset = chunk.offset + 8 + chunk.length;
  broken[crcOffset] = broken[crcOffset]! ^ 0xff;
  return broken;
}

// --- Generated images --------------------------------------------------------------------------------------

/** A JPEG carrying EXIF orientation `orientation` over stored pixels `stored`. */
export function jpegWithOrientation(stored: RgbImage, orientation: number): Promise<Buffer> {
  return fromRgb(stored).withMetadata({ orientation }).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
}

/** An animated GIF whose frames are flat `colours`, in order. */
export function animatedGif(width: number, height: number, colours: readonly Colour[]): Promise<Buffer> {
  const frames = Buffer.alloc(width * height * 4 * colours.length);
  colours.forEach((colour, f) => {
    for (let i = 0; i < width * height; i++) {
      frames.set([...colour, 255], (f * width * height + i) * 4);
    }
  });
  return sharp(frames, { raw: { width, height: height * colours.length, channels: 4, pageHeight: height } })
    .gif({ delay: colours.map(() => 100) })
    .toBuffer();
}

/** RGBA PNG: left half `colour` at `alpha` (0-255), right half fully transparent. */
export function halfTransparentPng(width: number, height: number, colour: Colour, alpha: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = x < width / 2 ? [...colour, alpha] : [0, 0, 0, 0];
      data.set(value, (y * width + x) * 4);
    }
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** A 16-bit-per-channel PNG whose samples are `colour` × 257 (so 8-bit `colour` exactly). */
export function png16(width: number, height: number, colour: Colour): Promise<Buffer> {
  return fromRgb(solid(width, height, colour)).toColourspace('rgb16').png().toBuffer();
}

/** An ISO-BMFF header with the HEIC brand, which is what an iPhone photo starts with. */
export function heicLike(): Buffer {
  const ftyp = Buffer.concat([
    Buffer.from([0, 0, 0, 24]),
    Buffer.from('ftypheic', 'latin1'),
    Buffer.from([0, 0, 0, 0]),
    Buffer.from('mif1heic', 'latin1'),
  ]);
  return Buffer.concat([ftyp, randomBytes(200, 9)]);
}

export const SVG = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a perfectly normal drawing -->
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>
`;
