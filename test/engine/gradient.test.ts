import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComputeBackend } from '../../src/engine/backends.ts';
import type { CaffeImage, ComputeBackend, LossSpec } from '../../src/engine/compute.ts';
import type { LossNormalization, Pooling } from '../../src/engine/types.ts';
import type { VggWeights } from '../../src/weights/types.ts';
import { makeTinyVggWeights, seededRandom } from '../helpers/tiny-vgg.ts';

/**
 * The tfjs objective's hand-written backward pass against tfjs autodiff of a plain, independent implementation
 * of the same loss (conv2d + bias + relu, tf.matMul Gram matrices, the formulas as the engine documents them),
 * targets included. test/engine/objective.test.ts checks every backend against finite differences.
 */

const CONTENT = [{ layer: 'block4_conv2', index: 9, weight: 5 }] as const;
const STYLE = [
  { layer: 'block1_conv1', index: 0, weight: 100 },
  { layer: 'block2_conv1', index: 2, weight: 50 },
  { layer: 'block3_conv1', index: 4, weight: 80 },
  { layer: 'block4_conv1', index: 8, weight: 30 },
  { layer: 'block5_conv1', index: 12, weight: 20 },
] as const;

function image(width: number, height: number, seed: number): CaffeImage {
  const random = seededRandom(seed);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * 100;
  return { width, height, data };
}

const toTensor = (i: CaffeImage) => tf.tensor4d(i.data, [1, i.height, i.width, 3]);

/** ReLU outputs of the first 13 layers, by plain tfjs ops. */
function features(weights: VggWeights, x: tf.Tensor4D, pooling: Pooling): tf.Tensor4D[] {
  const outputs: tf.Tensor4D[] = [];
  let h = x;
  for (const [index, { kernel, kernelShape, bias }] of [...weights.layers.values()].slice(0, 13).entries()) {
    const poolBefore = index === 2 || index === 4 || index === 8 || index === 12;
    if (poolBefore) h = pooling === 'avg' ? tf.avgPool(h, 2, 2, 'valid') : tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(tf.add<tf.Tensor4D>(tf.conv2d(h, tf.tensor4d(kernel, [...kernelShape]), 1, 'same'), tf.tensor1d(bias)));
    outputs.push(h);
  }
  return outputs;
}

function gram(f: tf.Tensor4D): tf.Tensor2D {
  const [, fh, fw, c] = f.shape;
  const m = f.reshape([fh * fw, c]);
  return tf.matMul(m, m, true, false).div(c * fh * fw);
}

function referenceLoss(
  weights: VggWeights,
  x: tf.Tensor4D,
  targets: { content: tf.Tensor4D[]; style: tf.Tensor2D[] },
  pooling: Pooling,
  normalization: LossNormalization,
  tvWeight: number,
): tf.Scalar {
  const outputs = features(weights, x, pooling);
  let loss = tf.scalar(0);
  CONTENT.forEach(({ index, weight }, i) => {
    const sq = tf.sum(tf.square(tf.sub(outputs[index]!, targets.content[i]!)));
    loss = loss.add(sq.mul(weight / outputs[index]!.size / (normalization === 'paper' ? 4 : 1)));
  });
  STYLE.forEach(({ index, weight }, i) => {
    const f = outputs[index]!;
    const c = f.shape[3];
    const sq = tf.sum(tf.square(tf.sub(gram(f), targets.style[i]!)));
    loss = loss.add(sq.mul(weight * (normalization === 'paper' ? 0.25 : 1 / (c * c))));
  });
  const [, height, width] = x.shape;
  const dh = tf.sub(x.slice([0, 1, 0, 0], [-1, height - 1, -1, -1]), x.slice([0, 0, 0, 0], [-1, height - 1, -1, -1]));
  const dw = tf.sub(x.slice([0, 0, 1, 0], [-1, -1, width - 1, -1]), x.slice([0, 0, 0, 0], [-1, -1, width - 1, -1]));
  return loss.add(tf.add(tf.sum(tf.square(dh)), tf.sum(tf.square(dw))).mul(tvWeight));
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe('the tfjs objective’s hand-written backward pass', () => {
  const weights = makeTinyVggWeights({ seed: 7 });
  let compute: ComputeBackend;

  beforeAll(async () => {
    compute = await createComputeBackend('cpu', weights);
  });
  afterAll(() => compute?.dispose());

  it.each([
    ['avg', 'mse', 1e-3],
    ['max', 'mse', 1e-3],
    ['avg', 'paper', 0],
  ] as const)('matches autodiff with %s pooling and %s normalization (TV %s)', async (pooling, normalization, tvWeight) => {
    // Odd sizes exercise pooling that drops the last row and column.
    const x = image(33, 35, 11);
    const content = image(33, 35, 12);
    const style = image(29, 40, 13);
    const loss: LossSpec = { content: CONTENT, style: STYLE, tvWeight, pooling, normalization };
    const objective = await compute.createObjective(loss, { content, styles: [{ image: style, weight: 1 }] });
    const before = tf.memory().numTensors;
    const { loss: terms, grad } = await objective.evaluate(x.data);
    objective.dispose();

    const expected = tf.tidy(() => {
      const contentFeatures = features(weights, toTensor(content), pooling);
      const styleFeatures = features(weights, toTensor(style), pooling);
      const targets = {
        content: CONTENT.map((c) => contentFeatures[c.index]!),
        style: STYLE.map((s) => gram(styleFeatures[s.index]!)),
      };
      const { value, grad: g } = tf.valueAndGrad((input: tf.Tensor4D) =>
        referenceLoss(weights, input, targets, pooling, normalization, tvWeight),
      )(toTensor(x));
      return { value: value.dataSync()[0]!, grad: g.dataSync() as Float32Array };
    });

    expect(terms.total).toBeCloseTo(terms.content + terms.style + terms.tv, 0);
    expect(Math.abs(terms.total - expected.value) / expected.value).toBeLessThan(1e-4);
    expect(terms.content).toBeGreaterThan(0);
    expect(terms.style).toBeGreaterThan(0);
    expect(terms.tv > 0).toBe(tvWeight > 0);
    expect(relativeError(grad, expected.grad)).toBeLessThan(1e-4);
    // The targets went with the objective; an evaluation keeps nothing.
    expect(tf.memory().numTensors).toBe(before - CONTENT.length - STYLE.length);
  });
});
