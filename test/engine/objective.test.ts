import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaffeImage, ComputeBackend, LossSpec, ScaleTargets } from '../../src/engine/compute.ts';
import type { LossNormalization, Pooling } from '../../src/engine/types.ts';
import { makeTinyVggWeights, seededRandom } from '../helpers/tiny-vgg.ts';
import { backendsUnderTest, createBackend } from './backends-under-test.ts';

/**
 * The contract every compute backend implements, on a tiny VGG19: the gradient is the derivative of the loss
 * (central finite differences), the numbers agree with the reference backend, and an objective neither keeps
 * nor leaks anything.
 */

function image(width: number, height: number, seed: number): CaffeImage {
  const random = seededRandom(seed);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * 110;
  return { width, height, data };
}

function spec(pooling: Pooling, normalization: LossNormalization, tvWeight: number): LossSpec {
  return {
    content: [{ layer: 'block4_conv2', weight: 5 }],
    style: [
      { layer: 'block1_conv1', weight: 100 },
      { layer: 'block2_conv1', weight: 50 },
      { layer: 'block3_conv1', weight: 80 },
      { layer: 'block4_conv1', weight: 30 },
      { layer: 'block5_conv1', weight: 20 },
    ],
    tvWeight,
    pooling,
    normalization,
  };
}

// Odd sizes exercise pooling that drops the last row and column.
const W = 35;
const H = 33;
const targets: ScaleTargets = { content: image(W, H, 12), styles: [{ image: image(29, 40, 13), weight: 1 }] };
const x = image(W, H, 11).data;

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function relativeDistance(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe.each(backendsUnderTest)('the objective on $name', (backendUnderTest) => {
  let compute: ComputeBackend;
  let baseline: number | undefined;

  beforeAll(async () => {
    compute = await createBackend(backendUnderTest, makeTinyVggWeights({ seed: 7 }));
    baseline = await backendUnderTest.liveAllocations?.();
  });
  afterAll(() => compute?.dispose());

  const only = (terms: 'content' | 'style' | 'tv', pooling: Pooling, normalization: LossNormalization): LossSpec => {
    const full = spec(pooling, normalization, 1e-3);
    return {
      ...full,
      content: terms === 'content' ? full.content : [],
      style: terms === 'style' ? full.style : [],
      tvWeight: terms === 'tv' ? full.tvWeight : 0,
    };
  };

  it.each([
    ['content, avg pooling, mse', only('content', 'avg', 'mse')],
    ['content, max pooling, paper', only('content', 'max', 'paper')],
    ['style, avg pooling, mse', only('style', 'avg', 'mse')],
    ['style, max pooling, mse', only('style', 'max', 'mse')],
    ['style, avg pooling, paper', only('style', 'avg', 'paper')],
    ['content, avg pooling, balanced', only('content', 'avg', 'balanced')],
    ['style, max pooling, balanced', only('style', 'max', 'balanced')],
    ['total variation', only('tv', 'avg', 'mse')],
    ['all terms, max pooling, mse', spec('max', 'mse', 1e-3)],
    ['all terms, avg pooling, balanced', spec('avg', 'balanced', 1e-3)],
  ] as const)('its gradient is the derivative of its loss (finite differences): %s', async (_, loss) => {
    const objective = await compute.createObjective(loss, targets);
    try {
      const { loss: terms, grad } = await objective.evaluate(x);
      expect(terms.total).toBeCloseTo(terms.content + terms.style + terms.tv, -2);
      expect(terms.content > 0).toBe(loss.content.length > 0);
      expect(terms.style > 0).toBe(loss.style.length > 0);
      expect(terms.tv > 0).toBe(loss.tvWeight > 0);
      // Along the gradient, the gradient on a random half of the pixels, and the gradient scaled at random per
      // value: (f(x + εd) − f(x − εd)) / 2ε ≈ g·d. (Random directions carry too little of the gradient for
      // float32 losses to resolve.)
      const random = seededRandom(5);
      const unit = (v: Float32Array) => {
        const norm = Math.sqrt(dot(v, v));
        return v.map((value) => value / norm);
      };
      const half = Array.from({ length: W * H }, () => random() < 0.5);
      const directions = [
        unit(grad),
        unit(grad.map((g, i) => (half[Math.floor(i / 3)] ? g : 0))),
        unit(grad.map((g) => g * random())),
      ];
      for (const d of directions) {
        const epsilon = 0.5;
        const plus = await objective.evaluate(x.map((v, i) => v + epsilon * d[i]!));
        const minus = await objective.evaluate(x.map((v, i) => v - epsilon * d[i]!));
        const numeric = (plus.loss.total - minus.loss.total) / (2 * epsilon);
        const analytic = dot(grad, d);
        expect(Math.abs(numeric - analytic) / Math.abs(analytic)).toBeLessThan(1e-2);
      }
    } finally {
      objective.dispose();
    }
  });

  it.skipIf(backendUnderTest === backendsUnderTest[0])(
    'agrees with the reference backend, also on wide layers (Winograd on wasm)',
    async () => {
      for (const [widths, normalization] of [
        [undefined, 'mse'],
        [[4, 6, 256, 8, 8], 'mse'],
        [undefined, 'balanced'],
      ] as const) {
        const weights = makeTinyVggWeights({ seed: 3, widths });
        const [a, b] = await Promise.all([createBackend(backendUnderTest, weights), createBackend(backendsUnderTest[0]!, weights)]);
        try {
          const full = spec('avg', normalization, 1e-3);
          const loss = { ...full, style: full.style.slice(0, 3) };
          const evaluations = [];
          for (const backend of [a, b]) {
            const objective = await backend.createObjective(loss, targets);
            evaluations.push(await objective.evaluate(x));
            objective.dispose();
          }
          const [mine, theirs] = evaluations as [(typeof evaluations)[0], (typeof evaluations)[0]];
          for (const term of ['total', 'content', 'style', 'tv'] as const) {
            expect(theirs.loss[term]).toBeGreaterThan(0);
            expect(Math.abs(mine.loss[term] - theirs.loss[term]) / theirs.loss[term]).toBeLessThan(backendUnderTest.tolerance);
          }
          expect(relativeDistance(mine.grad, theirs.grad)).toBeLessThan(backendUnderTest.tolerance);
        } finally {
          await Promise.all([a.dispose(), b.dispose()]);
        }
      }
    },
  );

  describe('balanced normalization', () => {
    const evaluateAt = async (loss: LossSpec, scene: ScaleTargets, at: Float32Array) => {
      const objective = await compute.createObjective(loss, scene);
      try {
        return (await objective.evaluate(at)).loss;
      } finally {
        objective.dispose();
      }
    };
    const scaled = (picture: CaffeImage, k: number): CaffeImage => ({ ...picture, data: picture.data.map((v) => v * k) });
    const scene = (k: number): ScaleTargets => ({
      content: scaled(targets.content, k),
      styles: [{ image: scaled(targets.styles[0]!.image, k), weight: 1 }],
    });

    it('gives two scaled versions of the same image pair the same balance, where mse does not', async () => {
      // Contrast ×1/4 scales every feature map about ×1/4 (the network is nearly homogeneous): mse's content term
      // falls ×16 and its style term ×256, so the same weights mean another balance; relative errors stay put.
      const ratio = async (normalization: LossNormalization, k: number) => {
        const terms = await evaluateAt(spec('avg', normalization, 0), scene(k), scaled({ width: W, height: H, data: x }, k).data);
        return terms.style / terms.content;
      };
      const balanced = [await ratio('balanced', 1), await ratio('balanced', 0.25)];
      const mse = [await ratio('mse', 1), await ratio('mse', 0.25)];
      expect(Math.abs(balanced[1]! / balanced[0]! - 1)).toBeLessThan(0.05);
      expect(mse[0]! / mse[1]!).toBeGreaterThan(10);
    });

    it('reads as the judge scores: 0 content and the style weight at the photo itself, at any size', async () => {
      const loss = { ...spec('avg', 'balanced', 0), content: [{ layer: 'block4_conv2' as const, weight: 5 }] };
      const uniform = { ...loss, style: loss.style.map((term) => ({ ...term, weight: 7 })) };
      for (const [width, height] of [[W, H], [2 * W + 1, 2 * H]] as const) {
        const sized: ScaleTargets = {
          content: image(width, height, 12),
          styles: [{ image: image(width - 3, height + 4, 13), weight: 1 }],
        };
        const terms = await evaluateAt(uniform, sized, sized.content.data);
        expect(terms.content).toBe(0);
        expect(terms.style).toBeCloseTo(7, 3);
        // Away from the photo, the content term is the weight times |F − P|² / |P|², below the weight for a
        // nearby image.
        const near = await evaluateAt(uniform, sized, sized.content.data.map((v, i) => v + 20 * Math.sin(i)));
        expect(near.content).toBeGreaterThan(0);
        expect(near.content).toBeLessThan(5);
      }
    });
  });

  it('neither keeps x nor hands out the same gradient array twice', async () => {
    const objective = await compute.createObjective(spec('avg', 'mse', 1e-3), targets);
    try {
      const input = Float32Array.from(x);
      const first = await objective.evaluate(input);
      input.fill(0);
      const again = await objective.evaluate(Float32Array.from(x));
      expect(again.loss).toEqual(first.loss);
      expect(again.grad).toEqual(first.grad);
      expect(again.grad).not.toBe(first.grad);
      first.grad.fill(1);
      expect((await objective.evaluate(Float32Array.from(x))).grad).toEqual(again.grad);
    } finally {
      objective.dispose();
    }
  });

  it('blends styles by relative weight and ignores zero-weight ones', async () => {
    const loss = spec('avg', 'mse', 0);
    const other = image(24, 24, 21);
    const evaluate = async (styles: ScaleTargets['styles']) => {
      const objective = await compute.createObjective(loss, { content: targets.content, styles });
      try {
        return (await objective.evaluate(x)).loss.style;
      } finally {
        objective.dispose();
      }
    };
    const style = targets.styles[0]!.image;
    const alone = await evaluate([{ image: style, weight: 1 }]);
    expect(await evaluate([{ image: style, weight: 3 }, { image: other, weight: 0 }])).toBeCloseTo(alone, -1);
    const half = await evaluate([{ image: style, weight: 1 }, { image: other, weight: 1 }]);
    expect(await evaluate([{ image: style, weight: 2 }, { image: other, weight: 2 }])).toBeCloseTo(half, -1);
    expect(Math.abs(half - alone) / alone).toBeGreaterThan(1e-3);
  });

  it('frees its targets on dispose, and refuses to evaluate afterwards or at another size', async () => {
    const objective = await compute.createObjective(spec('max', 'mse', 1e-3), targets);
    expect([objective.width, objective.height]).toEqual([W, H]);
    await objective.evaluate(x);
    await expect(objective.evaluate(new Float32Array(W * H * 3 - 3))).rejects.toThrow();
    objective.dispose();
    objective.dispose();
    await expect(objective.evaluate(x)).rejects.toThrow();
    expect(await backendUnderTest.liveAllocations?.()).toBe(baseline);
  });

  it('keeps working for objectives alive when the backend is disposed', async () => {
    const local = await createBackend(backendUnderTest, makeTinyVggWeights({ seed: 2 }));
    const objective = await local.createObjective(spec('avg', 'mse', 1e-3), targets);
    await local.dispose();
    await expect(local.createObjective(spec('avg', 'mse', 1e-3), targets)).rejects.toThrow();
    expect((await objective.evaluate(x)).loss.total).toBeGreaterThan(0);
    objective.dispose();
    expect(await backendUnderTest.liveAllocations?.()).toBe(baseline);
  });
});
