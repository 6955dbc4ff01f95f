import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EncodeTooLargeError,
  PREVIEW_MAX_BYTES,
  PREVIEW_MAX_SIDE,
  decodeImage,
  encodeFinal,
  encodeImage,
  encodePreview,
  type EncodedImage,
  type RgbImage,
} from '../../src/images/index.ts';
import { quadrants } from './corpus.ts';

/** A busy, painting-like texture: worst case for compression, like a stylized result. */
async function texture(width: number, height: number, seedShift = 0): Promise<RgbImage> {
  const { data, info } = await sharp({
    create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } },
  })
    .blur(1.2)
    .modulate({ hue: seedShift })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

async function expectReadable(encoded: EncodedImage): Promise<void> {
  const header = await sharp(encoded.bytes).metadata();
  expect(header.format).toBe(encoded.format);
  expect([header.width, header.height]).toEqual([encoded.width, encoded.height]);
  expect(encoded.mime).toBe(`image/${encoded.format}`);
}

let busy: RgbImage;
let busyPngBytes: number;

beforeAll(async () => {
  busy = await texture(1024, 768);
  busyPngBytes = (await encodeImage(busy, { format: 'png' })).bytes.length;
});

describe('encodePreview', () => {
  it('makes a small JPEG no longer than 384 px on a side', async () => {
    const preview = await encodePreview(busy);
    expect(preview).toMatchObject({ format: 'jpeg', extension: 'jpg', width: PREVIEW_MAX_SIDE, height: 288 });
    expect(preview.bytes.length).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    expect(preview.bytes.length).toBeGreaterThan(10 * 1024);
    await expectReadable(preview);
  });

  it('does not enlarge a small image and keeps its colours', async () => {
    const preview = await encodePreview(quadrants(200, 100));
    expect([preview.width, preview.height]).toEqual([200, 100]);
    const decoded = await decodeImage(preview.bytes, { maxBytes: 1e6, maxPixels: 1e6, formats: ['jpeg'] });
    expect([...decoded.data.subarray(0, 3)].map((v) => Math.round(v / 10))).toEqual([22, 4, 4]);
  });
});

describe('encodeFinal', () => {
  it('sends a lossless PNG when it fits', async () => {
    const image = quadrants(300, 200);
    const final = await encodeFinal(image, 10 * 1024 * 1024);
    expect(final).toMatchObject({ format: 'png', extension: 'png', width: 300, height: 200 });
    expect(final.note).toBeUndefined();
    const decoded = await decodeImage(final.bytes, { maxBytes: 1e7, maxPixels: 1e6, formats: ['png'] });
    expect(Buffer.from(decoded.data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('steps down to a high-quality JPEG when the PNG is over the limit', async () => {
    const limit = Math.floor(busyPngBytes * 0.6);
    const final = await encodeFinal(busy, limit);
    expect(final.bytes.length).toBeLessThanOrEqual(limit);
    expect(final).toMatchObject({ format: 'jpeg', width: 1024, height: 768 });
    expect(final.note).toMatch(/^Sent as a JPEG \(quality (95|90|85|80)\) because the PNG would be [\d.]+ MB, over/);
    await expectReadable(final);
  });

  it('scales down when even quality 80 does not fit, and says to what size', async () => {
    const q80 = await encodeImage(busy, { format: 'jpeg', quality: 80, chroma: '4:2:0' });
    const limit = Math.floor(q80.bytes.length / 3);
    const final = await encodeFinal(busy, limit);
    expect(final.bytes.length).toBeLessThanOrEqual(limit);
    expect(final.format).toBe('jpeg');
    expect(final.width).toBeLessThan(1024);
    expect(final.width / final.height).toBeCloseTo(1024 / 768, 1);
    expect(final.note).toContain(`Sent as a ${final.width}×${final.height} JPEG`);
    await expectReadable(final);
  });

  it('fits every limit it accepts', async () => {
    for (const limit of [400_000, 60_000, 8_000]) {
      const final = await encodeFinal(busy, limit);
      expect(final.bytes.length, `limit ${limit}`).toBeLessThanOrEqual(limit);
    }
  });

  it('gives up with a typed error when nothing fits', async () => {
    // Below the size of a JPEG's own quantization tables, so no noise texture can ever fit (300 bytes sometimes did).
    const attempt = encodeFinal(busy, 120);
    await expect(attempt).rejects.toThrow(EncodeTooLargeError);
    await expect(attempt).rejects.toThrow(
      'The result does not fit in 120 bytes, even as a smaller JPEG. Please try a smaller size.',
    );
  });

  it('rejects nonsense arguments as programming errors', async () => {
    await expect(encodeFinal(busy, 0)).rejects.toThrow(RangeError);
    await expect(encodeFinal({ width: 10, height: 10, data: new Uint8Array(10) }, 1000)).rejects.toThrow(RangeError);
  });
});
