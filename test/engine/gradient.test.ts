import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.ts';
import { collectFeatures } from '../../src/engine/feature-pass.ts';
import { gram } from '../../src/engine/gram.ts';
import { evaluate, type Objective } from '../../src/engine/objective.ts';
import type { LossNormalization, Pooling } from '../../src/engine/types.ts';
import { VggNetwork } from '../../src/engine/vgg-network.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';

/**
 * The hand-written backward pass against tfjs autodiff of a plain, independent implementation of the same loss
 * (conv2d + bias + relu, tf.matMul Gram matrices, the formulas as the engine documents them).
 */

const CONTENT = [{ index: 9, weight: 5 }];
const STYLE = [
  { index: 0, weight: 100 },
  { index: 2, weight: 50 },
  { index: 4, weight: 80 },
  { index: 8, weight: 30 },
  { index: 12, weight: 20 },
];

function referenceLoss(
  net: VggNetwork,
  x: tf.Tensor4D,
  targets: { content: tf.Tensor4D[]; style: tf.Tensor2D[] },
  pooling: Pooling,
  normalization: LossNormalization,
  tvWeight: number,
): tf.Scalar {
  const outputs: tf.Tensor4D[] = [];
  let h: tf.Tensor4D = x;
  for (const layer of net.layers.slice(0, 13)) {
    if (layer.poolBefore) h = pooling === 'avg' ? tf.avgPool(h, 2, 2, 'valid') : tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(tf.add<tf.Tensor4D>(tf.conv2d(h, layer.kernel, 1, 'same'), layer.bias));
    outputs.push(h);
  }
  let loss = tf.scalar(0);
  CONTENT.forEach(({ index, weight }, i) => {
    const sq = tf.sum(tf.square(tf.sub(outputs[index]!, targets.content[i]!)));
    loss = loss.add(sq.mul(weight / outputs[index]!.size / (normalization === 'paper' ? 4 : 1)));
  });
  STYLE.forEach(({ index, weight }, i) => {
    const f = outputs[index]!;
    const [, fh, fw, c] = f.shape;
    const m = f.reshape([fh * fw, c]);
    const g = tf.matMul(m, m, true, false).div(c * fh * fw);
    const sq = tf.sum(tf.square(tf.sub(g, targets.style[i]!)));
    loss = loss.add(sq.mul(weight * (normalization === 'paper' ? 0.25 : 1 / (c * c))));
  });
  const [, height, width] = x.shape;
  const dh = tf.sub(x.slice([0, 1, 0, 0], [-1, height - 1, -1, -1]), x.slice([0, 0, 0, 0], [-1, height - 1, -1, -1]));
  const dw = tf.sub(x.slice([0, 0, 1, 0], [-1, -1, width - 1, -1]), x.slice([0, 0, 0, 0], [-1, -1, width - 1, -1]));
  return loss.add(tf.add(tf.sum(tf.square(dh)), tf.sum(tf.square(dw))).mul(tvWeight));
}

function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, b)).div(tf.norm(b)).dataSync()[0]!);
}

describe('hand-written backward pass', () => {
  let net: VggNetwork;

  beforeAll(async () => {
    await selectBackend('cpu');
    net = new VggNetwork(makeTinyVggWeights({ seed: 7 }));
  });
  afterAll(() => net?.dispose());

  it.each([
    ['avg', 'mse', 1e-3],
    ['max', 'mse', 1e-3],
    ['avg', 'paper', 0],
  ] as const)('matches autodiff with %s pooling and %s normalization (TV %s)', (pooling, normalization, tvWeight) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      // Odd sizes exercise pooling that drops the last row and column.
      const x = tf.randomUniform<tf.Rank.R4>([1, 35, 33, 3], -100, 100, 'float32', 11);
      const content = tf.randomUniform<tf.Rank.R4>([1, 35, 33, 3], -100, 100, 'float32', 12);
      const style = tf.randomUniform<tf.Rank.R4>([1, 40, 29, 3], -100, 100, 'float32', 13);
      const contentFeatures = collectFeatures(net, content, new Set([9]), pooling, (f) => f);
      const styleGrams = collectFeatures(net, style, new Set(STYLE.map((s) => s.index)), pooling, (f) => gram(f));
      const targets = {
        content: CONTENT.map((c) => contentFeatures.get(c.index)!),
        style: STYLE.map((s) => styleGrams.get(s.index)!),
      };
      const objective: Objective = {
        content: CONTENT.map((c, i) => ({ ...c, target: targets.content[i]! })),
        style: STYLE.map((s, i) => ({ ...s, target: targets.style[i]! })),
        tvWeight,
        pooling,
        normalization,
      };

      const { terms, grad } = evaluate(net, objective, x);
      const { value, grad: expected } = tf.valueAndGrad((image: tf.Tensor4D) =>
        referenceLoss(net, image, targets, pooling, normalization, tvWeight),
      )(x);

      const [total, content_, style_, tv] = terms.dataSync();
      expect(total).toBeCloseTo(content_! + style_! + tv!, 0);
      expect(Math.abs(total! - value.dataSync()[0]!) / value.dataSync()[0]!).toBeLessThan(1e-4);
      expect(content_).toBeGreaterThan(0);
      expect(style_).toBeGreaterThan(0);
      expect(tv! > 0).toBe(tvWeight > 0);
      expect(relativeError(grad, expected)).toBeLessThan(1e-4);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('frees every intermediate of collectFeatures but what it hands back', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomUniform<tf.Rank.R4>([1, 32, 32, 3], -100, 100, 'float32', 5);
    const grams = collectFeatures(net, x, new Set([0, 4, 12]), 'avg', (f) => gram(f));
    const kept = collectFeatures(net, x, new Set([2, 9]), 'max', (f) => f);
    expect([...grams.keys()]).toEqual([0, 4, 12]);
    expect(kept.get(9)!.shape).toEqual([1, 4, 4, 8]);
    expect(tf.memory().numTensors).toBe(before + 1 + 3 + 2);
    tf.dispose([x, ...grams.values(), ...kept.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
