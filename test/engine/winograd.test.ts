import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComputeBackend } from '../../src/engine/backends.ts';
import type { ComputeBackend } from '../../src/engine/compute.ts';
import { VggNetwork } from '../../src/engine/tfjs/network.ts';
import { winogradConv2d, winogradFilter } from '../../src/engine/tfjs/winograd.ts';
import { makeTinyVggWeights } from '../helpers/tiny-vgg.ts';

function relativeMaxError(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).div(tf.max(tf.abs(expected))).dataSync()[0]!);
}

describe('Winograd F(4x4, 3x3) convolution', () => {
  let wasm: ComputeBackend;
  beforeAll(async () => {
    // Starts tfjs on wasm.
    wasm = await createComputeBackend('wasm', makeTinyVggWeights());
  });
  afterAll(() => wasm?.dispose());

  it('runs on wasm for layers of 256 channels and more up to block5_conv1, never elsewhere', () => {
    const weights = makeTinyVggWeights({ widths: [4, 6, 256, 8, 8] });
    const onWasm = new VggNetwork(weights, 'wasm');
    const onCpu = new VggNetwork(weights, 'cpu');
    expect(onWasm.winogradLayers).toEqual(['block3_conv2', 'block3_conv3', 'block3_conv4']);
    expect(onCpu.winogradLayers).toEqual([]);
    onWasm.dispose();
    onCpu.dispose();
  });

  it.each([
    [16, 16, 8, 12],
    [13, 10, 5, 7], // sizes that are not multiples of the 4x4 tile
    [9, 31, 3, 4],
    [20, 24, 64, 32],
  ])('equals conv2d (+ bias, ReLU) and its input gradient at %ix%i, %i→%i channels', (h, w, c, k) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal<tf.Rank.R4>([1, h, w, c], 0, 1, 'float32', 1);
      const kernel = tf.randomNormal<tf.Rank.R4>([3, 3, c, k], 0, 1, 'float32', 2);
      const bias = tf.randomNormal<tf.Rank.R1>([k], 0, 1, 'float32', 3);
      const dy = tf.randomNormal<tf.Rank.R4>([1, h, w, k], 0, 1, 'float32', 4);
      const data = kernel.dataSync() as Float32Array;
      const forward = winogradFilter(data, c, k);
      const backward = winogradFilter(data, c, k, true);

      const expected = tf.relu(tf.add(tf.conv2d(x, kernel, 1, 'same'), bias));
      expect(relativeMaxError(winogradConv2d(x, forward, bias, true), expected)).toBeLessThan(1e-4);
      expect(relativeMaxError(winogradConv2d(x, forward), tf.conv2d(x, kernel, 1, 'same'))).toBeLessThan(1e-4);

      // The input gradient of conv2d, by autodiff, against the flipped-filter Winograd convolution of dy.
      const gradient = tf.grad((input) => tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, kernel, 1, 'same'), dy)))(x);
      expect(relativeMaxError(winogradConv2d(dy, backward), gradient)).toBeLessThan(1e-4);
      tf.dispose([...forward, ...backward]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
