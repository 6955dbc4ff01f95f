import * as tf from '@tensorflow/tfjs';
import type { InitMode } from './types.ts';

/** Half-width of the uniform noise, in 0-255 units around the mean colour (the seed article's ±20). */
export const NOISE_AMPLITUDE = 20;

/**
 * The starting image: the content itself, the content blended with uniform noise (`ratio` of noise, as the
 * seed article's 0.7), or noise alone. The same seed gives the same noise on every backend, since tfjs draws
 * it on the CPU.
 */
export function initialImage(mode: InitMode, content: tf.Tensor4D, ratio: number, seed: number): tf.Tensor4D {
  if (mode === 'content') return content.clone();
  return tf.tidy(() => {
    const noise = tf.randomUniform<tf.Rank.R4>(content.shape, -NOISE_AMPLITUDE, NOISE_AMPLITUDE, 'float32', seed);
    if (mode === 'random') return noise;
    return noise.mul(ratio).add<tf.Tensor4D>(content.mul(1 - ratio));
  });
}
