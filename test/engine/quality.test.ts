import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, selectBackend, type Engine } from '../../src/engine/index.ts';
import type { RgbImage } from '../../src/images/rgb-image.ts';
import { loadWeights } from '../../src/weights/index.ts';
import { meanAbsDiff } from './fixtures.ts';

/** The real VGG19 weights and test images beside the project; the test is skipped where they are absent. */
const SHARED = path.resolve(import.meta.dirname, '../../../shared');
const WEIGHTS = path.join(SHARED, 'vgg19-uint8');
const IMAGES = path.join(SHARED, 'images');
const present = existsSync(path.join(WEIGHTS, 'model.json')) && existsSync(path.join(IMAGES, 'tubingen.jpg'));

async function load(name: string, longSide: number): Promise<RgbImage> {
  const { data, info } = await sharp(path.join(IMAGES, name))
    .removeAlpha()
    .resize({ width: longSide, height: longSide, fit: 'inside' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe.skipIf(!present)('quality with the real VGG19 weights', () => {
  let engine: Engine;

  beforeAll(async () => {
    await selectBackend('wasm');
    engine = createEngine(await loadWeights(WEIGHTS));
  });
  afterAll(() => engine?.dispose());

  it('a short run at 112 px lowers the style loss tenfold and repaints the photo', async () => {
    const before = tf.memory().numTensors;
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
    expect(tf.memory().numTensors).toBe(before);
  });
});
