import { describe, expect, it } from 'vitest';
import { ImageError, decodeContentImage, decodeImage, type DecodeLimits } from '../../src/images/index.ts';
import { seededRandom } from '../helpers/tiny-vgg.ts';
import { fromRgb, quadrants } from './corpus.ts';

const limits: DecodeLimits = {
  maxBytes: 1024 * 1024,
  maxPixels: 4_000_000,
  formats: ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'],
};

/** Flips, overwrites and truncates a valid file, deterministically. */
function mutate(valid: Buffer, random: () => number): Buffer {
  const bytes = Buffer.from(valid);
  const edits = 1 + Math.floor(random() * 8);
  for (let i = 0; i < edits; i++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
  return random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
}

describe('damaged files of every format', () => {
  it('either decode to well-formed RGB or fail with an ImageError, never anything else', async () => {
    const source = fromRgb(quadrants(96, 64));
    const valid: Record<string, Buffer> = {
      jpeg: await source.clone().jpeg().toBuffer(),
      progressive: await source.clone().jpeg({ progressive: true }).toBuffer(),
      png: await source.clone().png().toBuffer(),
      webp: await source.clone().webp().toBuffer(),
      gif: await source.clone().gif().toBuffer(),
      avif: await source.clone().avif().toBuffer(),
      tiff: await source.clone().tiff().toBuffer(),
    };
    const random = seededRandom(2024);
    const outcomes = { decoded: 0, refused: 0 };
    for (const [format, bytes] of Object.entries(valid)) {
      for (let i = 0; i < 40; i++) {
        const damaged = mutate(bytes, random);
        const decode =
          i % 2 === 0
            ? decodeImage(damaged, limits)
            : decodeContentImage(damaged, limits, { requested: 64, max: 128 });
        try {
          const image = await decode;
          expect(image.data.length, format).toBe(image.width * image.height * 3);
          outcomes.decoded++;
        } catch (error) {
          expect(error, `${format} #${i}: ${String(error)}`).toBeInstanceOf(ImageError);
          expect((error as ImageError).userMessage).not.toMatch(/vips|sharp|\n/i);
          outcomes.refused++;
        }
      }
    }
    // The mutations must actually break most files, or this test proves nothing.
    expect(outcomes.refused).toBeGreaterThan(outcomes.decoded);
  });
});
