import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.ts';
import { matchColors, matchedGreyscale, symmetricPower, withChromaOf } from '../../src/engine/colors.ts';
import { fromCaffe, rgbTensorToCaffe } from '../../src/engine/pixels.ts';

function stats(image: tf.Tensor3D): { mean: number[]; cov: number[] } {
  return tf.tidy(() => {
    const p = image.reshape([-1, 3]);
    const mean = p.mean(0);
    const c = p.sub(mean);
    const cov = tf.matMul(c, c, true, false).div(p.shape[0]);
    return { mean: Array.from(mean.dataSync()), cov: Array.from(cov.dataSync()) };
  });
}

describe('colour preservation', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('symmetricPower: (M^½)² = M and M^-½ M M^-½ = I', () => {
    const m = [
      [400, 120, -30],
      [120, 250, 60],
      [-30, 60, 90],
    ];
    const mul = (a: number[][], b: number[][]) => a.map((r) => [0, 1, 2].map((j) => r.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
    const half = symmetricPower(m, 0.5);
    const inv = symmetricPower(m, -0.5);
    mul(half, half).forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(m[i]![j]!, 6)));
    mul(mul(inv, m), inv).forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? 1 : 0, 8)));
  });

  it('matchColors gives the style the content’s colour mean and covariance', () => {
    const content = tf.tidy(() => tf.randomUniform<tf.Rank.R3>([24, 24, 3], 60, 160, 'float32', 1).mul<tf.Tensor3D>(tf.tensor1d([1, 0.8, 0.5])));
    const style = tf.randomUniform<tf.Rank.R3>([20, 30, 3], 100, 140, 'float32', 2);
    const matched = matchColors(style, content);
    const a = stats(matched);
    const b = stats(content);
    a.mean.forEach((v, i) => expect(v).toBeCloseTo(b.mean[i]!, 1));
    a.cov.forEach((v, i) => expect(v).toBeCloseTo(b.cov[i]!, 0));
    tf.dispose([content, style, matched]);
  });

  it('luminance-only transfer: a grey style with the content’s luminance spread, recombined with its chroma', () => {
    tf.tidy(() => {
      const content = tf.randomUniform<tf.Rank.R3>([16, 16, 3], 0, 255, 'float32', 3);
      const style = tf.randomUniform<tf.Rank.R3>([16, 16, 3], 100, 120, 'float32', 4);
      const grey = matchedGreyscale(style, content);
      const channels = tf.split(grey, 3, 2);
      expect(maxDiff(channels[0]!, channels[2]!)).toBeLessThan(1e-4);
      const lumaContent = tf.sum(tf.mul(content, tf.tensor1d([0.299, 0.587, 0.114])), 2);
      expect(tf.moments(channels[0]!).variance.dataSync()[0]).toBeCloseTo(tf.moments(lumaContent).variance.dataSync()[0]!, -1);
      // The content recombined with its own chroma is itself.
      expect(maxDiff(withChromaOf(content, content), content)).toBeLessThan(0.05);
    });
  });

  it('caffe preprocessing round-trips', () => {
    tf.tidy(() => {
      const rgb = tf.randomUniform<tf.Rank.R3>([5, 7, 3], 0, 255, 'float32', 5);
      const caffe = rgbTensorToCaffe(rgb);
      // BGR order: the first channel is blue minus its mean.
      expect(caffe.slice([0, 0, 0, 0], [1, 1, 1, 1]).dataSync()[0]).toBeCloseTo(rgb.slice([0, 0, 2], [1, 1, 1]).dataSync()[0]! - 103.939, 3);
      expect(maxDiff(fromCaffe(caffe), rgb)).toBeLessThan(1e-4);
    });
  });
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
}
