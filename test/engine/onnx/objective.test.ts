import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaffeImage, Evaluation, LossSpec, Objective, ScaleTargets } from '../../../src/engine/compute.ts';
import { BackendUnavailableError } from '../../../src/engine/errors.ts';
import { createOnnxBackend, type OnnxBackend, type OnnxProvider } from '../../../src/engine/onnx/backend.ts';
import { PRESETS } from '../../../src/engine/presets.ts';
import type { VggWeights } from '../../../src/weights/types.ts';
import { loadWeights } from '../../../src/weights/index.ts';
import type { VggLayerName } from '../../../src/weights/vgg19-layout.ts';
import { hasSharedVgg19, SHARED_VGG19 } from '../../helpers/shared-data.ts';
import { makeTinyVggWeights, seededRandom } from '../../helpers/tiny-vgg.ts';
import { tfjsEvaluate } from './tfjs-reference.ts';

/**
 * The ONNX objective against the tfjs one (tfjs-reference.ts), term by term and gradient, for every loss term and
 * option the engine has; then against finite differences of itself. One suite runs on each ONNX provider this
 * machine has: the CPU always, WebGPU on whatever adapter exists (software allowed, as CI runs it on lavapipe).
 */

// 8, not the helper's default 6, channels in block 2: ORT 1.31's WebGPU Conv miscomputes with 6 (or 18) input
// channels when the outputs are a multiple of 4. VGG19's own widths (3, 64, 128, 256, 512) are unaffected.
const WEIGHTS = makeTinyVggWeights({ seed: 7, widths: [4, 8, 8, 16, 16] });
const GATYS: VggLayerName[] = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];

function randomImage(width: number, height: number, seed: number): CaffeImage {
  const random = seededRandom(seed);
  return { width, height, data: Float32Array.from({ length: width * height * 3 }, () => (random() - 0.5) * 240) };
}

/** Blocks of one colour: max pooling windows inside them hold equal positive values (ties). */
function flatImage(width: number, height: number, seed: number): CaffeImage {
  const random = seededRandom(seed);
  const colours = Array.from({ length: 64 }, () => [0, 1, 2].map(() => (random() - 0.5) * 240));
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = colours[(Math.floor(y / 8) * 8 + Math.floor(x / 8)) % 64]!;
      data.set(colour, (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

interface Case {
  name: string;
  loss: Partial<LossSpec>;
  width: number;
  height: number;
  /** Style images as [width, height, blend weight]. */
  styles?: [number, number, number][];
  image?: (width: number, height: number, seed: number) => CaffeImage;
}

const seedStyle = GATYS.map((layer, i) => ({ layer, weight: 100 * [0.5, 1, 1.5, 3, 4][i]! }));
const CASES: Case[] = [
  { name: 'content only', loss: { content: [{ layer: 'block4_conv2', weight: 5 }] }, width: 40, height: 32 },
  {
    name: 'content on two layers, paper normalization',
    loss: {
      content: [
        { layer: 'block2_conv2', weight: 1 },
        { layer: 'block4_conv2', weight: 5 },
      ],
      normalization: 'paper',
    },
    width: 48,
    height: 40,
  },
  { name: 'style on one layer', loss: { style: [{ layer: 'block3_conv1', weight: 100 }] }, width: 32, height: 32 },
  {
    name: "five style layers weighted 0.5/1/1.5/3/4 (the seed preset), paper normalization",
    loss: { content: [{ layer: 'block4_conv2', weight: 5 }], style: seedStyle, normalization: 'paper' },
    width: 48,
    height: 48,
  },
  {
    name: 'three style images of different sizes blended 1:2:5',
    loss: { style: GATYS.map((layer) => ({ layer, weight: 100 })) },
    width: 40,
    height: 36,
    styles: [[40, 36, 1], [52, 33, 2], [34, 61, 5]],
  },
  { name: 'TV only', loss: { tvWeight: 0.01 }, width: 37, height: 33 },
  {
    name: 'every term, max pooling, odd size',
    loss: { content: [{ layer: 'block4_conv2', weight: 5 }], style: seedStyle, tvWeight: 1e-3, pooling: 'max' },
    width: 35,
    height: 33,
    styles: [[40, 29, 1]],
  },
  {
    name: 'every term, average pooling, odd size, paper normalization',
    loss: { content: [{ layer: 'block5_conv1', weight: 2 }], style: seedStyle, tvWeight: 1e-3, normalization: 'paper' },
    width: 33,
    height: 37,
    styles: [[36, 36, 1], [31, 45, 1]],
  },
  {
    name: 'every term, balanced normalization, two style images',
    loss: {
      content: [{ layer: 'block4_conv2', weight: 5 }],
      style: seedStyle,
      tvWeight: 1e-3,
      normalization: 'balanced',
    },
    width: 41,
    height: 35,
    styles: [[36, 40, 1], [45, 31, 3]],
  },
  {
    name: 'balanced, one layer for content and style, max pooling',
    loss: {
      content: [{ layer: 'block3_conv1', weight: 2 }],
      style: [
        { layer: 'block3_conv1', weight: 50 },
        { layer: 'block1_conv1', weight: 10 },
      ],
      pooling: 'max',
      normalization: 'balanced',
    },
    width: 40,
    height: 32,
  },
  {
    name: 'max pooling over flat regions (ties go to the first of the window, as in tfjs)',
    loss: { content: [{ layer: 'block3_conv2', weight: 5 }], style: seedStyle.slice(0, 3), pooling: 'max' },
    width: 64,
    height: 48,
    image: flatImage,
  },
  {
    name: 'one layer for content and style, and one style layer twice',
    loss: {
      content: [{ layer: 'block3_conv1', weight: 3 }],
      style: [
        { layer: 'block3_conv1', weight: 50 },
        { layer: 'block1_conv1', weight: 10 },
        { layer: 'block3_conv1', weight: 20 },
      ],
    },
    width: 44,
    height: 32,
  },
];

function lossSpec(partial: Partial<LossSpec>): LossSpec {
  return { content: [], style: [], tvWeight: 0, pooling: 'avg', normalization: 'mse', ...partial };
}

function targetsFor(testCase: Case): ScaleTargets {
  const image = testCase.image ?? randomImage;
  const styles = testCase.styles ?? [[testCase.width + 5, testCase.height - 3, 1]];
  return {
    content: image(testCase.width, testCase.height, 11),
    styles: styles.map(([width, height, weight], i) => ({ image: image(width, height, 20 + i), weight })),
  };
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

function expectSameEvaluation(actual: Evaluation, expected: Evaluation, loss: LossSpec) {
  for (const term of ['total', 'content', 'style', 'tv'] as const) {
    const want = expected.loss[term];
    if (want === 0) expect(actual.loss[term]).toBe(0);
    else expect(Math.abs(actual.loss[term] - want) / want, term).toBeLessThan(1e-4);
  }
  expect(actual.loss.content > 0).toBe(loss.content.length > 0);
  expect(actual.loss.style > 0).toBe(loss.style.length > 0);
  expect(actual.loss.tv > 0).toBe(loss.tvWeight > 0);
  expect(actual.grad.length).toBe(expected.grad.length);
  expect(relativeError(actual.grad, expected.grad)).toBeLessThan(1e-3);
}

/** The providers to test: the CPU, and WebGPU when an adapter (software included) starts, with the reason if not. */
async function providers(): Promise<{ provider: OnnxProvider; skip?: string }[]> {
  try {
    const backend = await createOnnxBackend(makeTinyVggWeights({ upTo: 'block1_conv1' }), {
      provider: 'webgpu',
      allowSoftwareAdapter: true,
    });
    await backend.dispose();
    return [{ provider: 'cpu' }, { provider: 'webgpu' }];
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error;
    return [{ provider: 'cpu' }, { provider: 'webgpu', skip: error.message }];
  }
}

for (const { provider, skip } of await providers()) {
  const title = `ONNX objective on ${provider} against tfjs${skip ? ` (skipped: ${skip})` : ''}`;
  describe.skipIf(skip !== undefined)(title, () => {
    let backend: OnnxBackend;
    beforeAll(async () => {
      backend = await createOnnxBackend(WEIGHTS, { provider, allowSoftwareAdapter: true, threads: 2 });
    });
    afterAll(() => backend?.dispose());

    it.each(CASES)('$name', async (testCase) => {
      const loss = lossSpec(testCase.loss);
      const targets = targetsFor(testCase);
      const x = (testCase.image ?? randomImage)(testCase.width, testCase.height, 3).data;
      const objective = await backend.createObjective(loss, targets);
      try {
        expect([objective.width, objective.height]).toEqual([testCase.width, testCase.height]);
        const actual = await objective.evaluate(x);
        expectSameEvaluation(actual, await tfjsEvaluate(WEIGHTS, loss, targets, x), loss);
      } finally {
        objective.dispose();
      }
    });
  });
}

describe.skipIf(!hasSharedVgg19)('ONNX objective with the real VGG19 weights', () => {
  let weights: VggWeights;
  beforeAll(async () => {
    weights = await loadWeights(SHARED_VGG19);
  });

  it('matches tfjs on the default loss at 40x32 px', { timeout: 180_000 }, async () => {
    const settings = PRESETS.default;
    const loss = lossSpec({
      content: settings.contentLayers.map((l) => ({ layer: l.layer, weight: l.weight * settings.contentWeight })),
      style: settings.styleLayers.map((l) => ({ layer: l.layer, weight: l.weight * settings.styleWeight })),
      tvWeight: settings.tvWeight,
    });
    const targets = { content: randomImage(40, 32, 1), styles: [{ image: randomImage(48, 36, 2), weight: 1 }] };
    const x = randomImage(40, 32, 3).data;
    const backend = await createOnnxBackend(weights, { provider: 'cpu', threads: 2 });
    try {
      const objective = await backend.createObjective(loss, targets);
      expectSameEvaluation(await objective.evaluate(x), await tfjsEvaluate(weights, loss, targets, x), loss);
      objective.dispose();
    } finally {
      await backend.dispose();
    }
  });
});

describe('ONNX gradient against finite differences of its own loss', () => {
  let backend: OnnxBackend;
  beforeAll(async () => {
    backend = await createOnnxBackend(WEIGHTS, { provider: 'cpu' });
  });
  afterAll(() => backend?.dispose());

  /**
   * The derivative of the loss along v, (L(x + h·v) − L(x − h·v)) / 2h, at the step that agrees best with
   * `expected`: in float32 a small step drowns in the loss's rounding (about 1e-6 of it), a large one crosses ReLU
   * and max-pooling kinks. A wrong gradient disagrees at every step.
   */
  async function derivative(objective: Objective, x: Float32Array, v: Float32Array, expected: number) {
    let best = Number.POSITIVE_INFINITY;
    for (const h of [0.1, 0.03, 0.01]) {
      const plus = (await objective.evaluate(Float32Array.from(x, (value, i) => value + h * v[i]!))).loss.total;
      const minus = (await objective.evaluate(Float32Array.from(x, (value, i) => value - h * v[i]!))).loss.total;
      const numeric = (plus - minus) / (2 * h);
      if (Math.abs(numeric - expected) < Math.abs(best - expected)) best = numeric;
    }
    return best;
  }

  const TERMS: Record<string, Partial<LossSpec>> = {
    content: { content: [{ layer: 'block2_conv2', weight: 1 }, { layer: 'block4_conv2', weight: 5 }] },
    style: { style: GATYS.map((layer) => ({ layer, weight: 100 })) },
    'style (paper)': { style: GATYS.map((layer) => ({ layer, weight: 100 })), normalization: 'paper' },
    'content and style (balanced)': {
      content: [{ layer: 'block4_conv2', weight: 5 }],
      style: GATYS.map((layer) => ({ layer, weight: 100 })),
      normalization: 'balanced',
    },
    TV: { tvWeight: 1e-3 },
  };
  const cases = (['avg', 'max'] as const).flatMap((pooling) => Object.keys(TERMS).map((terms) => ({ pooling, terms })));

  it.each(cases)('$terms loss along several directions ($pooling pooling, odd size)', async ({ pooling, terms }) => {
    const [width, height] = [33, 31];
    const loss = lossSpec({ ...TERMS[terms], pooling });
    const targets = { content: randomImage(width, height, 1), styles: [{ image: randomImage(36, 30, 2), weight: 1 }] };
    const objective = await backend.createObjective(loss, targets);
    try {
      const x = randomImage(width, height, 3).data;
      const { grad } = await objective.evaluate(x);
      const random = seededRandom(9);
      const sign = () => (random() < 0.5 ? -1 : 1);
      // Whole-image random directions with average pooling only: with max pooling they flip the maximum of some
      // window at any step size, and the finite difference measures that kink, not the gradient.
      const directions = pooling === 'avg' ? [0, 1, 2].map(() => Float32Array.from(x, sign)) : [];
      // Patches: the last rows and columns, which the poolings of odd sizes drop, and the centre. Along the
      // gradient's signs, so that the derivative stands well above the loss's rounding; random where the gradient
      // is 0, so that a gradient wrongly 0 there meets a non-zero finite difference.
      const band = (inBand: (px: number, py: number) => boolean) =>
        Float32Array.from(x, (_, i) =>
          inBand(Math.floor(i / 3) % width, Math.floor(i / 3 / width)) ? Math.sign(grad[i]!) || sign() : 0,
        );
      directions.push(
        band((_, py) => py >= height - 3),
        band((px) => px >= width - 3),
        band((px, py) => Math.abs(px - 16) < 4 && Math.abs(py - 15) < 4),
      );
      for (const v of directions) {
        const analytic = grad.reduce((sum, g, i) => sum + g * v[i]!, 0);
        // Relative to Σ|g·v|, not to the sum itself, which random signs can cancel down to the rounding's size.
        const scale = grad.reduce((sum, g, i) => sum + Math.abs(g * v[i]!), 0);
        const numeric = await derivative(objective, x, v, analytic);
        expect(Math.abs(numeric - analytic) / scale).toBeLessThan(1e-2);
      }
    } finally {
      objective.dispose();
    }
  });
});
