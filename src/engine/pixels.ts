import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../images/rgb-image.ts';
import { rgbToTensor } from '../images/tensor-convert.ts';

/**
 * Keras "caffe" preprocessing, the input VGG19 was trained on: RGB→BGR, 0-255, ImageNet mean subtracted.
 * The engine optimizes images in this space; `toCaffe` and `fromCaffe` are exact inverses.
 */
export const CAFFE_MEAN_BGR: readonly number[] = [103.939, 116.779, 123.68];

const mean = () => tf.tensor1d([...CAFFE_MEAN_BGR]);

/** [H, W, 3] RGB 0-255 → [1, H, W, 3] caffe. */
export function rgbTensorToCaffe(rgb: tf.Tensor3D): tf.Tensor4D {
  return tf.tidy(() => tf.reverse(rgb, 2).sub(mean()).expandDims<tf.Tensor4D>(0));
}

export function toCaffe(image: RgbImage): tf.Tensor4D {
  return tf.tidy(() => rgbTensorToCaffe(rgbToTensor(image)));
}

/** [1, H, W, 3] caffe → [H, W, 3] RGB, unclipped floats. */
export function fromCaffe(x: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => tf.reverse(x.squeeze<tf.Tensor3D>([0]).add<tf.Tensor3D>(mean()), 2));
}

/**
 * Resizes a [1, H, W, C] image. Shrinking halves with 2x2 averages while the image is at least twice the
 * target, then finishes bilinearly, so that strong reductions do not alias.
 */
export function resizeImage(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    while (y.shape[1] >= 2 * height && y.shape[2] >= 2 * width) y = tf.avgPool(y, 2, 2, 'valid');
    if (y.shape[1] === height && y.shape[2] === width) return y === x ? x.clone() : y;
    return tf.image.resizeBilinear(y, [height, width], false, true);
  });
}

/** Clips a caffe image to colours that exist (0-255 per channel). */
export function clipToPixelRange(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const m = mean();
    return x.add(m).clipByValue(0, 255).sub<tf.Tensor4D>(m);
  });
}
