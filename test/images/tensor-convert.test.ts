import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../../src/images/index.ts';
import { rgbToTensor, tensorToRgb } from '../../src/images/tensor-convert.ts';

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
  await tf.ready();
});

let tensorsBefore = 0;
afterEach(() => {
  // Neither function may leak an intermediate tensor.
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

/** A 3×2 image whose every byte is distinct, so any mix-up of axes or channels shows. */
const image: RgbImage = {
  width: 3,
  height: 2,
  data: Uint8Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22, 100, 101, 102, 200, 201, 202, 253, 254, 255]),
};

describe('rgbToTensor', () => {
  it('gives a float32 [height, width, 3] tensor of 0-255 values in row-major RGB order', async () => {
    tensorsBefore = tf.memory().numTensors;
    const tensor = rgbToTensor(image);
    expect(tf.getBackend()).toBe('wasm');
    expect(tensor.shape).toEqual([2, 3, 3]);
    expect(tensor.dtype).toBe('float32');
    const values = await tensor.array();
    expect(values[0]![1]).toEqual([10, 11, 12]); // row 0, column 1
    expect(values[1]![0]).toEqual([100, 101, 102]); // row 1, column 0
    expect(values[1]![2]).toEqual([253, 254, 255]);
    tensor.dispose();
  });

  it('refuses a buffer of the wrong length', () => {
    tensorsBefore = tf.memory().numTensors;
    expect(() => rgbToTensor({ width: 3, height: 2, data: new Uint8Array(17) })).toThrow(RangeError);
  });
});

describe('tensorToRgb', () => {
  it('round-trips exactly', async () => {
    tensorsBefore = tf.memory().numTensors;
    const tensor = rgbToTensor(image);
    const back = await tensorToRgb(tensor);
    tensor.dispose();
    expect(back.width).toBe(3);
    expect(back.height).toBe(2);
    expect(back.data).toBeInstanceOf(Uint8Array);
    expect([...back.data]).toEqual([...image.data]);
  });

  it('rounds to the nearest level and clips to 0-255, leaving the input alone', async () => {
    tensorsBefore = tf.memory().numTensors;
    const tensor = tf.tensor3d([-20, 0.4, 0.6, 127.5, 254.6, 300], [1, 2, 3]);
    const rgb = await tensorToRgb(tensor);
    expect([...rgb.data]).toEqual([0, 0, 1, 128, 255, 255]);
    expect(tensor.isDisposed).toBe(false);
    tensor.dispose();
  });

  it('refuses a tensor without three channels', async () => {
    tensorsBefore = tf.memory().numTensors;
    const tensor = tf.zeros<tf.Rank.R3>([2, 2, 4]);
    await expect(tensorToRgb(tensor)).rejects.toThrow(RangeError);
    tensor.dispose();
  });
});
