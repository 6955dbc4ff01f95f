import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { loadWeights } from '../../src/weights/index.ts';
import { hasSharedVgg19, SHARED_IMAGES, SHARED_VGG19 } from '../helpers/shared-data.ts';
import { backendsUnderTest } from './backends-under-test.ts';
import { meanAbsDiff } from './fixtures.ts';

/** The real VGG19 weights and test images beside the project; the test is skipped where they are absent. */

async function load(name: string, longSide: number): Promise<RgbImage> {
  const { data, info } = await sharp(path.join(SHARED_IMAGES, name))
    .removeAlpha()
    .resize({ width: longSide, height: longSide, fit: 'inside' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe.skipIf(!hasSharedVgg19).each(backendsUnderTest.filter((b) => b.fast))(
  'quality with the real VGG19 weights ($name)',
  (backendUnderTest) => {
    let engine: Engine;
    let baseline: number | undefined;

    beforeAll(async () => {
      engine = await createEngine(await loadWeights(SHARED_VGG19), { backend: backendUnderTest.choice });
      baseline = await backendUnderTest.liveAllocations?.();
    });
    afterAll(() => engine?.dispose());

    it('a short run at 112 px lowers the style loss tenfold and repaints the photo', async () => {
      const content = await load('tubingen.jpg', 112);
      const style = await load('starry_night.jpg', 112);
      const result = await engine.stylize({
        content,
        styles: [{ image: style, weight: 1 }],
        settings: { iterations: 12, scales: 1, seed: 1 },
      });
      expect(result.image).toMatchObject({ width: content.width, height: content.height });
      expect(result.loss.style).toBeLessThan(result.initialLoss.style / 10);
      expect(meanAbsDiff(result.image, content)).toBeGreaterThan(10);
      expect(await backendUnderTest.liveAllocations?.()).toBe(baseline);
    });
  },
);
