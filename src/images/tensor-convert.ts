import * as tf from '@tensorflow/tfjs';
import { assertRgbImage, type RgbImage } from './rgb-image.ts';

/**
 * The only place where pixels cross between sharp's world (RGB uint8) and the engine's (float32 tensors).
 * Tensors are [height, width, 3], RGB, 0-255.
 */
export function rgbToTensor(image: RgbImage): tf.Tensor3D {
  assertRgbImage(image);
  return tf.tidy(() => tf.tensor3d(image.data, [image.height, image.width, 3], 'int32').toFloat());
}

/** Rounds and clips to 0-255. Does not dispose `tensor`. */
export async function tensorToRgb(tensor: tf.Tensor3D): Promise<RgbImage> {
  const [height, width, channels] = tensor.shape;
  if (channels !== 3) throw new RangeError(`expected 3 channels, got ${channels}`);
  const clipped = tf.tidy(() => tensor.clipByValue(0, 255).round().toInt());
  try {
    const values = await clipped.data();
    return { width, height, data: Uint8Array.from(values) };
  } finally {
    clipped.dispose();
  }
}
