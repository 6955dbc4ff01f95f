import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { TooManyPixelsError, decodeContentImage, decodeImage, type DecodeLimits } from '../../src/images/index.ts';
import { pngBomb } from './corpus.ts';

/**
 * Peak memory, from the kernel's high-water mark of this test process (vitest runs each file in its own fork).
 * Each test measures how much the peak rises while it decodes.
 */
const peakMiB = () => process.resourceUsage().maxRSS / 1024;

const limits: DecodeLimits = { maxBytes: 20 * 1024 * 1024, maxPixels: 70_000_000, formats: ['png', 'jpeg'] };

describe('memory stays bounded', () => {
  it('refuses a 30000×30000 PNG bomb (2.7 GB decoded) without allocating it', async () => {
    const bomb = await pngBomb(30_000, 30_000);
    const before = peakMiB();
    await expect(decodeImage(bomb, limits, 'content')).rejects.toThrow(TooManyPixelsError);
    // Also at the highest pixel limit the settings allow: still refused from the header.
    await expect(decodeImage(bomb, { ...limits, maxPixels: 268_402_689 })).rejects.toThrow(TooManyPixelsError);
    expect(peakMiB() - before).toBeLessThan(32);
  });

  it('decodes a 64-megapixel upload to output size without ever holding it in full', async () => {
    // 8000×8000 RGB is 183 MiB decoded, but a flat colour compresses to a few hundred KB.
    const big = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: '#336699' } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    const before = peakMiB();
    const image = await decodeContentImage(big, limits, { requested: 512, max: 1024 });
    expect([image.width, image.height, image.originalWidth]).toEqual([512, 512, 8000]);
    expect([...image.data.subarray(0, 3)]).toEqual([0x33, 0x66, 0x99]);
    expect(peakMiB() - before).toBeLessThan(100);
  });
});
