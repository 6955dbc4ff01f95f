import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComputeBackend, createEngine, type ComputeBackend, type Engine } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { loadWeights } from '../../src/weights/index.ts';
import { judgeScores } from '../helpers/judge-scores.ts';
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

/**
 * The defaults, judged as ../shared/tools/judge.py judges them (style_rel: 1 = no style moved), on two pairs whose
 * balance the old raw-weight defaults got wrong in opposite ways (see the README's notes on the defaults). On ONNX
 * Runtime only: the defaults' 100 iterations at this size take about 15 s there and minutes on wasm.
 */
describe.skipIf(!hasSharedVgg19)('the defaults with the real VGG19 weights (onnx)', () => {
  let engine: Engine;
  let compute: ComputeBackend;

  beforeAll(async () => {
    const weights = await loadWeights(SHARED_VGG19);
    [engine, compute] = await Promise.all([
      createEngine(weights, { backend: 'onnx' }),
      createComputeBackend('onnx', weights),
    ]);
  });
  afterAll(async () => {
    await engine?.dispose();
    await compute?.dispose();
  });

  it.each([
    ['golden_gate.jpg', 'picasso_selfport1907.jpg'],
    ['tubingen.jpg', 'the_scream.jpg'],
  ])('repaint %s in the style of %s past the quality bar at 128 px', async (photoName, artName) => {
    const photo = await load(photoName, 128);
    const art = await load(artName, 128);
    const result = await engine.stylize({ content: photo, styles: [{ image: art, weight: 1 }], settings: { seed: 1 } });
    const { styleRel, contentRel } = await judgeScores(compute, photo, art, result.image);
    // The bar (0.05 / 0.85) with a margin: 128 px is a single scale, where 256 px and up start coarser. Measured
    // 0.038 / 0.57 and 0.048 / 0.76; the defaults before balanced losses gave golden_gate + picasso 0.10.
    expect(styleRel).toBeLessThan(0.06);
    expect(contentRel).toBeLessThan(0.9);
  }, 60_000);
});
